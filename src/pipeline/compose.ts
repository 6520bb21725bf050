import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { HealthPlan } from '../core/checks.js';
import type { ComposeProject, ComposeService } from '../core/compose/parse.js';
import {
  composeLabels,
  planServices,
  type ServicePlan,
  serviceDigest,
  webService,
} from '../core/compose/plan.js';
import { type ServiceRun, serviceRun } from '../core/compose/run.js';
import { makeRoute, type Route } from '../core/routes.js';
import { composeOverlay } from '../core/swarm.js';
import { GokuError, oneLine } from '../errors.js';
import type { TaskSpec } from '../runtime/types.js';
import { envFileVars, namedImage, parseSources } from '../sources/compose.js';
import {
  type AppView,
  type ComposeServiceRecord,
  type ComposeSources,
  type DeploymentRecord,
  type DeploymentView,
  type ServiceImage,
  type SwarmRecord,
  setScale,
  thaw,
} from '../store/types.js';
import {
  appView,
  containerName,
  domainsFor,
  labels,
  type Out,
  type PipelineDeps,
  restoreRecord,
} from './context.js';
import { assertDomainsFree, assertScale, assertServiceNamesFree } from './guards.js';
import { awaitHealthy, type Healthy } from './health.js';
import { retireOthers } from './retire.js';
import { composeRouteKey, ownedRouteKeys } from './routing.js';
import type { Switched } from './switch.js';

/** One new version of a compose deployment: every source and trigger of a compose app hands over one. */
export interface ComposeSpec {
  app: string;
  deployment: string;
  branch: string;
  commit: string;
  /** This attempt's routing id: the replaced services' container suffix and X-Goku-Release. */
  release: string;
  sources: ComposeSources;
  images: Record<string, ServiceImage>;
  /** The config it runs with (a rollback's); default the app's. */
  env?: Record<string, string>;
  cname: string[];
  /** Services replaced whatever their fingerprint (ps:restart SERVICE); 'all': every one. */
  force?: readonly string[] | 'all';
  /** ps:scale counts asked for (service → containers), recorded when the switch succeeds. */
  scale?: Record<string, number>;
  /** Checked just before routing: the change can no longer be kept (the pusher left). */
  abandoned?: () => boolean;
  /** The built images are this attempt's: removed if it fails. */
  ownsImages: boolean;
}

/** One service as this attempt runs it. */
export interface Svc {
  s: ComposeService;
  plan: ServicePlan;
  run: ServiceRun;
  image: ServiceImage;
  digest: string;
  prev: ComposeServiceRecord | undefined;
  changed: boolean;
  oneShot: boolean;
  web: boolean;
  domains: string[];
}

/** What one attempt made and stopped, so that a failure or a revert takes exactly that back. */
export interface Attempt {
  started: Map<string, string[]>;
  healthy: Healthy[];
  /** In-place services' old containers, stopped before their new ones started. */
  stopped: string[];
  previousRoutes: Map<string, Route | undefined>;
  switched: boolean;
  previousRecord: DeploymentView | undefined;
}

/**
 * The compose switch: services whose definition, image, env or count changed are replaced in
 * start order (routed stateless ones beside the old ones; stateful or unrouted ones stopped
 * first, as two copies must not share a database's files), each checked before the next
 * starts; then nginx switches every routed service at once and confirms through itself. The
 * others keep running. Any failure removes what the attempt made and starts what it stopped.
 */
export async function composeSwitch(d: PipelineDeps, spec: ComposeSpec, out: Out): Promise<Switched> {
  const appRec = appView(d, spec.app);
  const svcs = await planCompose(
    d,
    spec,
    appRec,
    out,
    async (rec, count) => rec.containerIds.length === count && (await alive(d, rec)),
  );
  const attempt = newAttempt(appRec, spec);
  try {
    await ensureObjects(d, spec, svcs);
    for (const v of svcs) if (v.changed) await replaceService(d, spec, v, attempt, out);
    if (spec.abandoned?.()) {
      throw new GokuError(
        'GOKU_ERR_PUSH_REJECTED',
        'the pusher went away before the deploy finished, so git cannot land the push; nothing was switched',
      );
    }
    await routeServices(d, spec, appRec, svcs, attempt, out, true);
    await Promise.all(attempt.healthy.map((h) => h.watch()));
    await routeServices(d, spec, appRec, svcs, attempt, () => undefined, false);
    for (const v of svcs)
      for (const id of attempt.started.get(v.s.name) ?? []) await d.runtime.keepRunning(id, v.run.restart);
    await recordCompose(d, spec, svcs, attempt);
  } catch (err) {
    await undoCompose(d, spec, attempt, out);
    throw err;
  }
  const web = svcs.find((v) => v.web && v.plan.route);
  return {
    port: web?.plan.route?.port ?? null,
    tail: () => settleCompose(d, spec, svcs, attempt),
    revert: () => revertCompose(d, spec, attempt),
  };
}

export function newAttempt(appRec: AppView, spec: ComposeSpec): Attempt {
  return {
    started: new Map(),
    healthy: [],
    stopped: [],
    previousRoutes: new Map(),
    switched: false,
    previousRecord: appRec.deployments[spec.deployment],
  };
}

/**
 * Each service with its count (ps:scale's, else deploy.replicas), its run, fingerprint and
 * whether it changed (`runs`: what runs it still runs, `count` of it); the counts checked against
 * GOKU_MAX_SCALE.
 */
export async function planCompose(
  d: PipelineDeps,
  spec: ComposeSpec,
  appRec: AppView,
  out: Out,
  runs: (rec: ComposeServiceRecord, count: number) => Promise<boolean>,
): Promise<Svc[]> {
  const env = spec.env ?? { ...appRec.env };
  const project = parseSources(spec.sources, env);
  applyCounts(d, spec, appRec, project);
  const plans = planServices(project, {
    app: spec.deployment,
    domain: d.settings.GOKU_DOMAIN,
    prefix: d.settings.GOKU_CONTAINER_PREFIX,
  });
  const ctx: PlanContext = {
    env,
    appRec,
    envFiles: envFileVars(spec.sources),
    byName: new Map(project.services.map((s) => [s.name, s])),
    // Services others wait for with service_completed_successfully run to their end.
    oneShots: new Set(
      project.services.flatMap((s) =>
        Object.entries(s.dependsOn)
          .filter(([, c]) => c === 'service_completed_successfully')
          .map(([n]) => n),
      ),
    ),
    webName: plans.find((p) => p.route && p.service === webService(project)?.name)?.service,
    replaced: new Set(),
    runs,
    out,
  };
  const svcs: Svc[] = [];
  for (const plan of plans) svcs.push(await planService(d, spec, ctx, plan));
  assertServiceNamesFree(
    d,
    spec.deployment,
    svcs.map((v) => v.s.name),
  );
  assertDomainsFree(
    d,
    spec.app,
    spec.deployment,
    svcs.flatMap((v) => v.domains),
  );
  const kept = svcs.filter((v) => !v.changed).map((v) => v.s.name);
  if (kept.length) out(`-----> Unchanged, kept running: ${kept.join(', ')}`);
  return svcs;
}

interface PlanContext {
  env: Record<string, string>;
  appRec: AppView;
  envFiles: Record<string, Record<string, string>>;
  byName: Map<string, ComposeService>;
  oneShots: Set<string>;
  webName: string | undefined;
  /** The services replaced so far, in start order. */
  replaced: Set<string>;
  runs: (rec: ComposeServiceRecord, count: number) => Promise<boolean>;
  out: Out;
}

/** One service: its image, run and fingerprint, and whether it must be replaced. */
async function planService(
  d: PipelineDeps,
  spec: ComposeSpec,
  ctx: PlanContext,
  plan: ServicePlan,
): Promise<Svc> {
  const s = ctx.byName.get(plan.service) as ComposeService;
  const image = await imageOf(d, spec, s, ctx.out);
  const run = serviceRun(s, {
    project: spec.deployment,
    config: ctx.env,
    envFiles: ctx.envFiles,
    binds: spec.sources.binds,
  });
  const digest = serviceDigest(s, image.imageId, run);
  const p = ctx.appRec.deployments[spec.deployment]?.compose?.services[s.name];
  const was = p ? thaw<ComposeServiceRecord>(p) : undefined;
  const web = s.name === ctx.webName;
  const forced = spec.force === 'all' || (spec.force ?? []).includes(s.name);
  const changed =
    forced ||
    !was ||
    was.digest !== digest ||
    // depends_on ... restart: true: replaced with what it depends on (services come in start order).
    s.restartWith.some((dep) => ctx.replaced.has(dep)) ||
    !(await ctx.runs(was, s.replicas));
  if (changed) ctx.replaced.add(s.name);
  const domains = !plan.route
    ? []
    : web
      ? domainsFor(d, ctx.appRec, spec.deployment, spec.branch, spec.cname)
      : [plan.route.domain];
  return { s, plan, run, image, digest, prev: was, changed, oneShot: ctx.oneShots.has(s.name), web, domains };
}

/**
 * Each service's count: ps:scale's (the default deployment's, as for Procfile types), else
 * its deploy.replicas; within GOKU_MAX_SCALE each and in all, and one for a named volume.
 */
function applyCounts(d: PipelineDeps, spec: ComposeSpec, appRec: AppView, project: ComposeProject): void {
  const counts: Record<string, number> =
    spec.deployment === spec.app
      ? { ...(appRec.formation ?? {}), ...(appRec.scale !== undefined ? { web: appRec.scale } : {}) }
      : {};
  Object.assign(counts, spec.scale ?? {});
  for (const s of project.services) {
    const n = counts[s.name];
    if (n !== undefined) s.replicas = n;
    assertScale(d, spec.app, s.replicas);
    if (s.replicas > 1 && s.volumes.some((v) => v.type === 'volume' && v.source !== null)) {
      throw new GokuError(
        'GOKU_ERR_USAGE',
        `${s.name} has named volumes, so it runs one container (copies must not share a database's files); scale it to 0 or 1`,
      );
    }
  }
  const total = project.services.reduce((a, s) => a + s.replicas, 0);
  if (total > d.settings.GOKU_MAX_SCALE) {
    throw new GokuError(
      'GOKU_ERR_USAGE',
      `${spec.app} would run ${total} containers in all, above GOKU_MAX_SCALE (${d.settings.GOKU_MAX_SCALE}); lower some deploy.replicas or ps:scale counts`,
    );
  }
}

/**
 * The image a service runs: the one built for it, or the one its `image:` names now (the
 * config may have changed the name, or a profile turned the service on since the push).
 */
async function imageOf(
  d: PipelineDeps,
  spec: ComposeSpec,
  s: ComposeService,
  out: Out,
): Promise<ServiceImage> {
  const recorded = spec.images[s.name];
  if (s.build) {
    if (recorded) return recorded;
    throw new GokuError(
      'GOKU_ERR_COMPOSE',
      `${s.name} is built from the repository and was not built at the push; push again or run goku ps:rebuild ${spec.app}`,
    );
  }
  const named = s.image as string;
  const image =
    recorded && !recorded.built && recorded.image === named
      ? recorded
      : await namedImage(d, s.name, named, out);
  spec.images[s.name] = image;
  return image;
}

/** Every recorded container of the service exists and runs (a removed or dead one is replaced). */
async function alive(d: PipelineDeps, rec: ComposeServiceRecord): Promise<boolean> {
  if (rec.oneShot) return true;
  for (const id of rec.containerIds) {
    const st = await d.runtime.inspectContainer(id);
    if (!st || (!st.running && !st.restarting)) return false;
  }
  return true;
}

/** The compose networks the services join, by their Docker names (`named`: another name for each). */
export function networksOf(svcs: Svc[], named: (network: string) => string = (n) => n): Set<string> {
  return new Set(svcs.flatMap((v) => v.run.networks.map((n) => named(n.name))));
}

/** Removes the deployment's networks but those in `keep` (ones nothing joins any more). */
export async function pruneNetworks(d: PipelineDeps, spec: ComposeSpec, keep: Set<string>): Promise<void> {
  for (const n of await d.runtime.listNetworks(labels(d, spec.app, spec.deployment)))
    if (!keep.has(n)) await d.runtime.removeNetwork(n).catch(() => undefined);
}

/** The deployment's networks and named volumes, made when missing (volumes are never replaced). */
export async function ensureObjects(
  d: PipelineDeps,
  spec: ComposeSpec,
  svcs: Svc[],
  /** Makes one network of a compose network's name: a bridge here (an overlay on Swarm). */
  network: (name: string, labels: Record<string, string>) => Promise<void> = (n, l) =>
    d.runtime.ensureNetwork(n, l),
): Promise<void> {
  const base = { ...labels(d, spec.app, spec.deployment), 'com.docker.compose.project': spec.deployment };
  for (const n of networksOf(svcs)) await network(n, { ...base, 'com.docker.compose.network': n });
  for (const v of svcs) {
    for (const m of v.run.mounts) {
      if (m.type === 'volume' && m.source)
        await d.runtime.ensureVolume(m.source, { ...base, 'com.docker.compose.volume': m.source });
    }
  }
}

/**
 * Replaces one service: in place (its old containers stopped first) when it has named volumes
 * or is not routed, else beside the old ones; each new container must pass its check (its
 * healthcheck, the HTTP check on its routed port, or staying up); a one-shot must exit 0.
 */
async function replaceService(
  d: PipelineDeps,
  spec: ComposeSpec,
  v: Svc,
  attempt: Attempt,
  out: Out,
): Promise<void> {
  const { s, plan } = v;
  const inPlace = plan.replacement === 'in-place' || v.oneShot;
  if (inPlace && v.prev?.containerIds.length) {
    out(`-----> Stopping ${s.name} first (${plan.route ? 'it has named volumes' : 'it is not routed'})`);
    attempt.stopped.push(...v.prev.containerIds);
    await Promise.all(
      v.prev.containerIds.map((id) =>
        d.runtime.stopContainer(id, v.run.stopGrace ?? d.settings.GOKU_STOP_GRACE).catch((err) => {
          // Already gone is fine; it is replaced either way.
          d.log.warn({ app: spec.app, err: oneLine(err) }, 'could not stop a container');
        }),
      ),
    );
  }
  out(
    `-----> Starting ${s.name}${s.replicas === 1 ? '' : ` (${s.replicas} containers)`}${plan.route ? ` (port ${plan.route.port})` : ''}`,
  );
  const ids: string[] = [];
  attempt.started.set(s.name, ids);
  const check = await healthPlanOf(d, v);
  const health = {
    runtime: d.runtime,
    timeout: d.settings.GOKU_DEPLOY_TIMEOUT,
    uptime: d.settings.GOKU_CHECK_UPTIME,
  };
  await Promise.all(
    Array.from({ length: s.replicas }, async (_, i) => {
      const id = await startContainer(d, spec, v, i);
      ids[i] = id;
      if (v.oneShot) return awaitExit(d, s.name, id, out);
      const h = await awaitHealthy(
        health,
        id,
        plan.route?.port ?? null,
        check,
        i === 0 ? out : () => undefined,
        {
          backup: !inPlace,
        },
      ).catch((err: unknown) => {
        throw new GokuError(
          err instanceof GokuError ? err.code : 'GOKU_ERR_CONTAINER_EXITED',
          `${s.name}${s.replicas > 1 ? ` ${i + 1}` : ''}: ${oneLine(err)}`,
        );
      });
      // In-place services are not watched behind a backup: their old containers are stopped.
      if (inPlace) await h.watch();
      else attempt.healthy.push(h);
    }),
  );
}

/** Its own healthcheck or its image's counts as Docker's; else the HTTP check on a routed port, or uptime. */
async function healthPlanOf(d: PipelineDeps, v: Svc): Promise<HealthPlan> {
  if (v.run.healthcheck) return { kind: 'docker' };
  return (await d.runtime.imageConfig(v.image.image)).healthcheck ? { kind: 'docker' } : { kind: 'default' };
}

/** A one-shot service (service_completed_successfully) must exit 0 within the deploy timeout. */
async function awaitExit(d: PipelineDeps, name: string, id: string, out: Out): Promise<void> {
  const deadline = Date.now() + d.settings.GOKU_DEPLOY_TIMEOUT * 1000;
  for (;;) {
    const st = await d.runtime.inspectContainer(id);
    if (!st) throw new GokuError('GOKU_ERR_CONTAINER_EXITED', `${name} disappeared before it finished`);
    if (!st.running && !st.restarting && st.startedAt && !st.startedAt.startsWith('0001')) {
      if (st.exitCode !== 0) {
        throw new GokuError(
          'GOKU_ERR_CONTAINER_EXITED',
          `${name} exited with status ${st.exitCode}; what depends on it (service_completed_successfully) was not started`,
        );
      }
      out(`       ${name} completed successfully`);
      return;
    }
    if (Date.now() > deadline) {
      throw new GokuError(
        'GOKU_ERR_HEALTH_TIMEOUT',
        `${name} did not finish within ${d.settings.GOKU_DEPLOY_TIMEOUT} s (GOKU_DEPLOY_TIMEOUT)`,
      );
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Container i of a service, under its temporary name (DEPLOYMENT-SERVICE--RELEASE) until the tail. */
function startContainer(d: PipelineDeps, spec: ComposeSpec, v: Svc, i: number): Promise<string> {
  const { s, run } = v;
  return d.runtime.runContainer({
    restart: false,
    name: `${containerName(d, `${spec.deployment}-${s.name}`, i)}--${spec.release}`,
    image: v.image.image,
    env: run.env,
    ...(run.cmd ? { cmd: run.cmd } : {}),
    ...(run.entrypoint ? { entrypoint: run.entrypoint } : {}),
    ...(run.workingDir ? { workingDir: run.workingDir } : {}),
    ...(run.user ? { user: run.user } : {}),
    ...(run.healthcheck ? { healthcheck: run.healthcheck } : {}),
    networks: run.networks,
    mounts: run.mounts,
    options: run.options,
    labels: {
      ...s.labels,
      ...composeLabels(spec.deployment, s.name, i + 1, v.digest),
      ...labels(d, spec.app, spec.deployment),
      'goku.branch': spec.branch,
      'goku.commit': spec.commit,
      'goku.release': spec.release,
      'goku.process': s.name,
      'goku.instance': String(i + 1),
    },
  });
}

/** The routes of every routed service, from the new containers or the kept ones. */
async function serviceRoutes(
  d: PipelineDeps,
  spec: ComposeSpec,
  appRec: AppView,
  svcs: Svc[],
  attempt: Attempt,
  withBackups: boolean,
  ipsOf: (v: Svc) => Promise<string[]>,
): Promise<{ routes: Route[]; changed: { domain: string; release: string }[] }> {
  const routes: Route[] = [];
  const changed: { domain: string; release: string }[] = [];
  for (const v of svcs) {
    if (!v.plan.route) continue;
    const key = composeRouteKey(spec.deployment, v.s.name, v.web);
    const ips = await ipsOf(v);
    const own = v.web && spec.deployment === spec.app;
    const route = makeRoute({
      app: spec.app,
      deployment: key,
      domains: v.domains,
      ips,
      port: v.plan.route.port,
      ports: own ? (appRec.ports ?? []) : [],
      httpPorts: own ? (appRec.proxyPorts ?? []) : [],
      release: v.changed ? spec.release : (v.prev?.release ?? spec.release),
    });
    if (!route) continue;
    const before = attempt.previousRoutes.get(key) ?? d.routes.get(key);
    const backups =
      withBackups && v.changed && v.plan.replacement === 'zero-downtime' ? (before?.upstreams ?? []) : [];
    routes.push(backups.length ? { ...route, backups } : route);
    if (v.changed && v.domains[0]) changed.push({ domain: v.domains[0], release: route.release });
  }
  return { routes, changed };
}

async function addresses(d: PipelineDeps, ids: string[]): Promise<string[]> {
  const out: string[] = [];
  for (const id of ids) {
    const st = await d.runtime.inspectContainer(id);
    if (st?.running && st.ip) out.push(st.ip);
  }
  return out;
}

/** The addresses of a service's containers: the attempt's new ones, or the kept ones. */
function containerIps(d: PipelineDeps, attempt: Attempt): (v: Svc) => Promise<string[]> {
  return (v) =>
    addresses(d, v.changed ? (attempt.started.get(v.s.name) ?? []) : (v.prev?.containerIds ?? []));
}

/**
 * Points nginx at every routed service in one change (services no longer routed, and the
 * previous non-compose route when nothing takes its key, go) and confirms each changed one.
 */
export async function routeServices(
  d: PipelineDeps,
  spec: ComposeSpec,
  appRec: AppView,
  svcs: Svc[],
  attempt: Attempt,
  out: Out,
  withBackups: boolean,
  ipsOf: (v: Svc) => Promise<string[]> = containerIps(d, attempt),
): Promise<void> {
  const { routes, changed } = await serviceRoutes(d, spec, appRec, svcs, attempt, withBackups, ipsOf);
  const keys = new Set(routes.map((r) => r.deployment));
  const stale = ownedRouteKeys(d, spec.deployment).filter((k) => !keys.has(k));
  for (const k of [...keys, ...stale])
    if (!attempt.previousRoutes.has(k)) attempt.previousRoutes.set(k, d.routes.get(k));
  if (routes.length) out(`-----> Routing ${routes.flatMap((r) => r.domains).join(', ')}`);
  await d.routes.change(routes, stale);
  attempt.switched = true;
  for (const c of changed) await d.routes.proxyConfirm(c.domain, c.release);
  for (const r of routes) await d.routes.confirmStreams(r);
}

/**
 * The deployment runs the compose spec now: its record, and the env and counts asked for
 * (`swarm`: the services that run it, each service's name in its record).
 */
export async function recordCompose(
  d: PipelineDeps,
  spec: ComposeSpec,
  svcs: Svc[],
  attempt: Attempt,
  swarm?: SwarmRecord,
): Promise<void> {
  const services: Record<string, ComposeServiceRecord> = {};
  for (const v of svcs) {
    const ids = v.oneShot
      ? []
      : v.changed
        ? (attempt.started.get(v.s.name) ?? [])
        : (v.prev?.containerIds ?? []);
    services[v.s.name] = {
      ...v.image,
      digest: v.digest,
      containerIds: [...ids],
      port: v.plan.route?.port ?? null,
      web: v.web,
      release: v.changed ? spec.release : (v.prev?.release ?? spec.release),
      ...(v.oneShot ? { oneShot: true } : {}),
      ...(swarm?.services[v.s.name] ? { service: swarm.services[v.s.name] } : {}),
    };
  }
  const web = svcs.find((v) => v.web);
  const rec: DeploymentRecord = {
    name: spec.deployment,
    branch: spec.branch,
    commit: spec.commit,
    image: web?.image.image ?? '',
    port: null,
    cnameDomains: spec.cname,
    procfile: null,
    appFormation: null,
    containerId: '',
    containerIds: [],
    release: spec.release,
    deployedAt: new Date().toISOString(),
    compose: { sources: structuredClone(spec.sources), services },
    ...(swarm ? { swarm } : {}),
  };
  await d.store.update((s) => {
    const a = s.apps[spec.app];
    if (!a) throw new GokuError('GOKU_ERR_APP_NOT_FOUND', `app ${spec.app} was destroyed during the deploy`);
    a.deployments[spec.deployment] = rec;
    delete a.stopped;
    if (spec.env) a.env = { ...spec.env };
    if (spec.scale) setScale(a, spec.scale);
    a.updatedAt = rec.deployedAt;
  });
}

/** A failed attempt: routes as they were, the new containers' last lines and removal, the stopped ones started. */
async function undoCompose(d: PipelineDeps, spec: ComposeSpec, attempt: Attempt, out: Out): Promise<void> {
  d.log.info({ app: spec.app, release: spec.release }, 'undoing a failed compose attempt');
  if (attempt.switched)
    await restoreRoutes(d, attempt).catch((e) =>
      d.log.error({ err: oneLine(e) }, 'could not restore routes'),
    );
  for (const [name, ids] of attempt.started) {
    const first = ids[0];
    if (!first) continue;
    const logs = await d.runtime.containerLogs(first, 20).catch(() => '');
    if (logs.trim()) {
      out(`-----> Last lines of the ${name} log:`);
      for (const l of logs.trimEnd().split('\n')) out(`       ${l}`);
    }
  }
  await removeStarted(d, spec, attempt);
  await startStopped(d, spec, attempt);
}

export async function restoreRoutes(d: PipelineDeps, attempt: Attempt): Promise<void> {
  const back = [...attempt.previousRoutes.values()].filter((r): r is Route => !!r);
  const gone = [...attempt.previousRoutes].filter(([, r]) => !r).map(([k]) => k);
  await d.routes.change(back, gone);
}

async function removeStarted(d: PipelineDeps, spec: ComposeSpec, attempt: Attempt): Promise<void> {
  const ids = [...attempt.started.values()].flat().filter(Boolean);
  await Promise.all(
    ids.map((id) =>
      d.runtime
        .removeContainer(id)
        .catch((e) => d.log.warn({ app: spec.app, err: oneLine(e) }, 'could not remove')),
    ),
  );
  if (!spec.ownsImages) return;
  for (const img of Object.values(spec.images)) {
    if (img.built) await d.runtime.removeImageTag(img.image).catch(() => undefined);
  }
}

async function startStopped(d: PipelineDeps, spec: ComposeSpec, attempt: Attempt): Promise<void> {
  for (const id of attempt.stopped) {
    await d.runtime
      .startContainer(id)
      .catch((e) =>
        d.log.error({ app: spec.app, err: oneLine(e) }, 'could not start an old container again'),
      );
  }
  // Their addresses may have changed: the routes follow what runs now (the reconciler does too).
  if (attempt.stopped.length) d.log.info({ app: spec.app }, 'started the stopped services again');
}

/** Undoes a compose switch that went live but must not stay (its push did not land). */
async function revertCompose(d: PipelineDeps, spec: ComposeSpec, attempt: Attempt): Promise<void> {
  await restoreRoutes(d, attempt);
  await restoreRecord(d, spec.app, spec.deployment, attempt.previousRecord);
  await removeStarted(d, spec, attempt);
  await startStopped(d, spec, attempt);
}

/**
 * After the switch: old nginx workers finish, every container the record does not keep retires
 * (replaced services', removed services', a former Dockerfile deployment's), the new ones take
 * their names, and images, networks and bind copies nothing uses any more go.
 */
async function settleCompose(
  d: PipelineDeps,
  spec: ComposeSpec,
  svcs: Svc[],
  attempt: Attempt,
): Promise<void> {
  await d.routes.drained();
  const rec = appView(d, spec.app).deployments[spec.deployment]?.compose;
  const keep = Object.values(rec?.services ?? {}).flatMap((s) => s.containerIds);
  await retireOthers(d, spec.app, spec.deployment, [...keep]);
  for (const v of svcs) {
    for (const [i, id] of (attempt.started.get(v.s.name) ?? []).entries()) {
      if (!v.oneShot)
        await d.runtime.renameContainer(id, containerName(d, `${spec.deployment}-${v.s.name}`, i));
    }
  }
  await pruneComposeImages(d, spec.app, spec.deployment);
  await pruneNetworks(d, spec, networksOf(svcs));
  await pruneBinds(d, spec.app);
}

/**
 * Keeps the built images of the deployment's last GOKU_KEEP_RELEASES succeeded releases and of
 * what runs; removes the other goku/DEPLOYMENT.SERVICE tags.
 */
export async function pruneComposeImages(d: PipelineDeps, app: string, deployment: string): Promise<void> {
  const rec = appView(d, app);
  const keep = new Set(
    (rec.releases ?? [])
      .filter((r) => r.deployment === deployment && r.status === 'succeeded' && r.compose)
      .slice(-d.settings.GOKU_KEEP_RELEASES)
      .flatMap((r) => Object.values(r.compose?.images ?? {}).map((i) => i.image)),
  );
  for (const s of Object.values(rec.deployments[deployment]?.compose?.services ?? {})) keep.add(s.image);
  for (const s of Object.keys(rec.deployments[deployment]?.compose?.services ?? {})) {
    const images = await d.runtime.listImages(`goku/${deployment}.${s}`, { 'goku.home': d.homeLabel });
    for (const t of images.flatMap((i) => i.tags)) if (!keep.has(t)) await d.runtime.removeImageTag(t);
  }
}

/** Removes the bind-mount copies of the app that no deployment or kept release uses. */
export async function pruneBinds(d: PipelineDeps, app: string): Promise<void> {
  const rec = appView(d, app);
  const used = new Set<string>();
  for (const dep of Object.values(rec.deployments))
    for (const p of Object.values(dep.compose?.sources.binds ?? {})) used.add(p);
  for (const r of (rec.releases ?? []).slice(-d.settings.GOKU_KEEP_RELEASES * 2))
    for (const p of Object.values(r.compose?.sources.binds ?? {})) used.add(p);
  const home = join(d.settings.GOKU_HOME, 'binds', app);
  const dirs = await readdir(home).catch(() => [] as string[]);
  for (const dir of dirs) {
    const full = join(home, dir);
    if (dir.startsWith('.tmp-')) continue;
    if (![...used].some((p) => p === full || p.startsWith(`${full}/`)))
      await rm(full, { recursive: true, force: true });
  }
}

/**
 * What `goku run` of a compose app runs in: its web service (else its first), with that
 * service's image, env, entrypoint, directory, user, mounts and first network, so that the
 * command reaches the other services by name as `docker compose run` does.
 */
export function composeRunSpec(
  dep: DeploymentView,
  env: Readonly<Record<string, string>>,
): { service: string } & Omit<TaskSpec, 'name' | 'labels' | 'cmd'> {
  const c = dep.compose as NonNullable<DeploymentView['compose']>;
  const sources = thaw<ComposeSources>(c.sources);
  const project = parseSources(sources, env);
  const s = project.services.find((x) => x.name === 'web') ?? project.services[0];
  const rec = s && c.services[s.name];
  if (!s || !rec)
    throw new GokuError('GOKU_ERR_NOT_DEPLOYED', `${dep.name} runs no service to run a command in`);
  const run = serviceRun(s, {
    project: dep.name,
    config: env,
    envFiles: envFileVars(sources),
    binds: sources.binds,
  });
  return {
    service: s.name,
    image: rec.image,
    env: run.env,
    ...(run.entrypoint ? { entrypoint: run.entrypoint } : {}),
    ...(run.workingDir ? { workingDir: run.workingDir } : {}),
    ...(run.user ? { user: run.user } : {}),
    // On Swarm its networks are overlays (attachable: a container of this engine joins one).
    ...(run.networks[0]
      ? { network: dep.swarm ? composeOverlay(run.networks[0].name) : run.networks[0].name }
      : {}),
    mounts: run.mounts,
  };
}
