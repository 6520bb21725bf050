import { createHash } from 'node:crypto';
import { GokuError } from '../../errors.js';
import type { ComposeProject, ComposeService } from './parse.js';

/** How a changed service is replaced. */
export type Replacement =
  /** Beside the old one, health-checked, switched by nginx, then the old one retired. */
  | 'zero-downtime'
  /** Stop, then start: two copies must not share a named volume (a database's files). */
  | 'in-place';

/** One service of a compose app as goku runs it. */
export interface ServicePlan {
  service: string;
  /** Its containers: APP-SERVICE, APP-SERVICE.2, ... */
  containers: string[];
  /** The domain it is served at, and the container port; null when it is not routed. */
  route: { domain: string; port: number } | null;
  replacement: Replacement;
}

/**
 * The services that run: those without `profiles`, and those with a profile named in
 * COMPOSE_PROFILES (comma-separated, from the app's config), as Compose starts them. A running
 * service may not depend on one left out.
 */
export function activeServices(
  project: ComposeProject,
  config: Readonly<Record<string, string>>,
): ComposeProject {
  const on = new Set(
    (config.COMPOSE_PROFILES ?? '')
      .split(',')
      .map((p) => p.trim())
      .filter(Boolean),
  );
  const active = project.services.filter((s) => s.profiles.length === 0 || s.profiles.some((p) => on.has(p)));
  const names = new Set(active.map((s) => s.name));
  // An optional dependency (required: false) left out is dropped: the service runs without it.
  const services = active.map((s) => ({
    ...s,
    dependsOn: Object.fromEntries(
      Object.entries(s.dependsOn).filter(([dep]) => names.has(dep) || !s.optional.includes(dep)),
    ),
  }));
  for (const s of services) {
    for (const dep of Object.keys(s.dependsOn)) {
      if (!names.has(dep)) {
        const left = project.services.find((x) => x.name === dep);
        throw new GokuError(
          'GOKU_ERR_COMPOSE',
          `${s.name} depends on ${dep}, whose profiles (${left?.profiles.join(', ')}) are not active; add one to COMPOSE_PROFILES with goku config:set`,
        );
      }
    }
  }
  if (services.length === 0)
    throw new GokuError(
      'GOKU_ERR_COMPOSE',
      'no service runs: every one has profiles, and none is in COMPOSE_PROFILES',
    );
  return { ...project, services };
}

/**
 * The services in the order they start: each after what it depends on, otherwise in the order
 * of the file. (The parser has refused cycles and unknown names.)
 */
export function startOrder(project: Pick<ComposeProject, 'services'>): string[] {
  const byName = new Map(project.services.map((s) => [s.name, s]));
  const done = new Set<string>();
  const order: string[] = [];
  const visit = (name: string, depth: number) => {
    if (done.has(name)) return;
    if (depth > project.services.length)
      throw new GokuError('GOKU_ERR_COMPOSE', `depends_on of ${name} is a cycle`);
    for (const dep of Object.keys(byName.get(name)?.dependsOn ?? {})) visit(dep, depth + 1);
    done.add(name);
    order.push(name);
  };
  for (const s of project.services) visit(s.name, 0);
  return order;
}

/**
 * The routed service: the one named `web`, else the first with `ports`. It is served at the
 * app's own domains; every other service with `ports` at SERVICE.APP.DOMAIN.
 */
export function webService(project: Pick<ComposeProject, 'services'>): ComposeService | null {
  return (
    project.services.find((s) => s.name === 'web') ?? project.services.find((s) => s.ports.length > 0) ?? null
  );
}

/** What goku runs for each service of a compose app (names, routes, how it is replaced). */
export function planServices(
  project: Pick<ComposeProject, 'services'>,
  p: { app: string; domain: string; prefix: string },
): ServicePlan[] {
  const web = webService(project);
  const byName = new Map(project.services.map((s) => [s.name, s]));
  return startOrder(project).map((name) => {
    const s = byName.get(name) as ComposeService;
    // The web service is routed by its first port, else its first expose; the others by ports only.
    const port = s.ports[0]?.target ?? (s === web ? (s.expose[0] ?? null) : null);
    const route =
      port === null
        ? null
        : { domain: s === web ? `${p.app}.${p.domain}` : `${s.name}.${p.app}.${p.domain}`, port };
    const named = s.volumes.some((v) => v.type === 'volume' && v.source !== null);
    return {
      service: name,
      containers: Array.from(
        { length: s.replicas },
        (_, i) => `${p.prefix}${p.app}-${name}${i === 0 ? '' : `.${i + 1}`}`,
      ),
      route,
      replacement: route && !named ? 'zero-downtime' : 'in-place',
    };
  });
}

/**
 * A service's fingerprint: its definition (its replica count aside: that is a scale), the
 * image it runs and how it runs (its env, its mounts' host paths). Equal fingerprints: the
 * running containers are kept.
 */
export function serviceDigest(s: ComposeService, imageId: string, run: unknown): string {
  const { replicas: _scale, ...definition } = s;
  return createHash('sha256')
    .update(canonical({ definition, imageId, env: run }))
    .digest('hex')
    .slice(0, 16);
}

/** The services whose fingerprint differs from the running one's (new services included). */
export function changedServices(
  running: Readonly<Record<string, string>>,
  next: Readonly<Record<string, string>>,
): string[] {
  return Object.keys(next).filter((name) => running[name] !== next[name]);
}

/** The labels Compose puts on its containers, so Compose-aware tools recognise goku's. */
export function composeLabels(
  app: string,
  service: string,
  n: number,
  digest: string,
): Record<string, string> {
  return {
    'com.docker.compose.project': app,
    'com.docker.compose.service': service,
    'com.docker.compose.container-number': String(n),
    'com.docker.compose.oneoff': 'False',
    'com.docker.compose.config-hash': digest,
    'goku.service': service,
  };
}

/** JSON with sorted keys: the same definition always gives the same text. */
function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v && typeof v === 'object') {
    return `{${Object.keys(v)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical((v as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v) ?? 'null';
}
