import { GokuError } from '../errors.js';
import { branchSlug } from './names.js';

/** A host port published for a non-HTTP service of an app's default deployment (ports:add). */
export interface PortMapping {
  host: number;
  container: number;
  proto: 'tcp' | 'udp';
}

/**
 * An extra HTTP port of an app's default deployment (proxy:ports-add http:HOST:CONTAINER): its
 * domains are served on edge port HOST too, sent to CONTAINER (Dokku's http:HOST:CONTAINER).
 */
export interface HttpPortMapping {
  host: number;
  container: number;
}

/** One routed deployment as nginx sees it. Pure data, rendered by the proxy adapter. */
export interface Route {
  app: string;
  deployment: string;
  /** Served over HTTP (the Dockerfile EXPOSEs a port); false for stream-only deployments. */
  http: boolean;
  domains: string[];
  /** host:port of each running instance; empty means nothing to send traffic to (503). */
  upstreams: string[];
  /**
   * host:port of the previous release's instances while a new one is watched: nginx sends
   * them a request only when every upstream failed it (`server ... backup`).
   */
  backups?: string[];
  /** Published non-HTTP ports, each to the same instances' container port. */
  streams: { mapping: PortMapping; targets: string[] }[];
  /** Extra HTTP ports (proxy:ports-add), each to the same instances' container port. */
  extraHttp?: { mapping: HttpPortMapping; upstreams: string[] }[];
  /** Sent back in X-Goku-Release so a switch can be confirmed through nginx. */
  release: string;
}

/** An app's HTTPS choices as its routes render them (certs:redirect). */
export interface RouteTls {
  redirect?: boolean;
  hsts?: boolean;
}

export interface NginxModel {
  listen: string;
  /** ":PORT" after the host of a redirect to HTTPS, empty for 443. */
  httpsPortSuffix: string;
  /** The extra HTTP ports' listen addresses (each gets goku's 404 for unknown hosts). */
  extraListens: string[];
  managed: boolean;
  home: string;
  routes: (Route & {
    tls: RouteTls;
    upstreamName: string;
    extras: { listen: string; upstreamName: string; upstreams: string[] }[];
  })[];
  streams: { listen: string; udp: boolean; upstreamName: string; targets: string[] }[];
  streamModule: string;
}

/**
 * The route of a deployment from its facts, or null when there is nothing to route (no HTTP
 * port and no published ports). `ips` are the running instances' addresses.
 */
export function makeRoute(o: {
  app: string;
  deployment: string;
  domains: readonly string[];
  ips: readonly string[];
  port: number | null;
  ports: readonly PortMapping[];
  /** Extra HTTP ports (the default deployment's proxy:ports-add mappings); served only with web. */
  httpPorts?: readonly HttpPortMapping[];
  release: string;
}): Route | null {
  if (!o.port && o.ports.length === 0) return null;
  const extras = o.port ? (o.httpPorts ?? []) : [];
  return {
    app: o.app,
    deployment: o.deployment,
    http: o.port !== null,
    domains: [...o.domains],
    upstreams: o.port ? o.ips.map((ip) => `${ip}:${o.port}`) : [],
    streams: o.ports.map((m) => ({ mapping: { ...m }, targets: o.ips.map((ip) => `${ip}:${m.container}`) })),
    ...(extras.length
      ? {
          extraHttp: extras.map((m) => ({
            mapping: { ...m },
            upstreams: o.ips.map((ip) => `${ip}:${m.container}`),
          })),
        }
      : {}),
    release: o.release,
  };
}

export function listenAddress(host: string, port: number): string {
  if (host === '0.0.0.0' || host === '*') return String(port);
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/** Stable order and nginx-safe upstream names, so identical state renders identical text. */
export function nginxModel(
  routes: Iterable<Route>,
  opts: {
    host: string;
    port: number;
    managed: boolean;
    home: string;
    streamModule: string;
    /** Where the HTTP servers listen, when not host:port (managed: the edge's unix socket). */
    listen?: string;
    httpsPort?: number;
    /** Each app's HTTPS choices. */
    tls?: (app: string) => RouteTls;
    /** Swarm: published ports are the edge's; the routes nginx listens for them on unix sockets here. */
    relayDir?: string;
  },
): NginxModel {
  const portListen = (port: number, kind: 'http' | 'tcp') =>
    opts.relayDir ? `unix:${relaySocket(opts.relayDir, kind, port)}` : listenAddress(opts.host, port);
  const sorted = [...routes].sort((a, b) => (a.deployment < b.deployment ? -1 : 1));
  // A compose service's route (DEPLOYMENT/SERVICE) must not share a name with a deployment
  // DEPLOYMENT-SERVICE: the slash becomes a dot, which no deployment name has.
  const name = (d: string) => `goku_${d.replace(/\//g, '.').replace(/[^a-z0-9.]/g, '_')}`;
  return {
    listen: opts.listen ?? listenAddress(opts.host, opts.port),
    httpsPortSuffix: !opts.httpsPort || opts.httpsPort === 443 ? '' : `:${opts.httpsPort}`,
    managed: opts.managed,
    home: opts.home,
    streamModule: opts.streamModule,
    extraListens: [
      ...new Set(
        sorted.flatMap((r) =>
          (r.http ? (r.extraHttp ?? []) : []).map((e) => portListen(e.mapping.host, 'http')),
        ),
      ),
    ],
    routes: sorted
      .filter((r) => r.http)
      .map((r) => ({
        ...r,
        tls: opts.tls?.(r.app) ?? {},
        upstreamName: name(r.deployment),
        extras: (r.extraHttp ?? []).map((e) => ({
          listen: portListen(e.mapping.host, 'http'),
          upstreamName: `${name(r.deployment)}_http_${e.mapping.host}`,
          upstreams: e.upstreams,
        })),
      })),
    // A stream without a running instance is not rendered: nothing would answer on it.
    streams: sorted.flatMap((r) =>
      r.streams
        .filter((s) => s.targets.length > 0)
        .map((s) => ({
          listen:
            s.mapping.proto === 'udp'
              ? listenAddress(opts.host, s.mapping.host)
              : portListen(s.mapping.host, 'tcp'),
          udp: s.mapping.proto === 'udp',
          upstreamName: `${name(r.deployment)}_${s.mapping.proto}_${s.mapping.host}`,
          targets: s.targets,
        })),
    ),
  };
}

/** The unix socket the routes nginx listens on for a port the edge relays. */
export function relaySocket(dir: string, kind: 'http' | 'tcp', port: number): string {
  return `${dir}/${kind}-${port}.sock`;
}

/**
 * The ports the edge listens on for the routes nginx (Swarm), from every route's published
 * ports whether or not an instance runs now, so the edge changes only with ports:add and
 * proxy:ports-add: each listen address with the socket it passes connections on to.
 */
export function edgeRelays(
  routes: Iterable<Route>,
  host: string,
  dir: string,
): { http: { listen: string; socket: string; name: string }[]; tcp: { listen: string; socket: string }[] } {
  const http = new Set<number>();
  const tcp = new Set<number>();
  for (const r of routes) {
    if (r.http) for (const e of r.extraHttp ?? []) http.add(e.mapping.host);
    for (const st of r.streams) if (st.mapping.proto === 'tcp') tcp.add(st.mapping.host);
  }
  const sorted = (s: Set<number>) => [...s].sort((a, b) => a - b);
  return {
    http: sorted(http).map((p) => ({
      listen: listenAddress(host, p),
      socket: relaySocket(dir, 'http', p),
      name: `relay_http_${p}`,
    })),
    tcp: sorted(tcp).map((p) => ({ listen: listenAddress(host, p), socket: relaySocket(dir, 'tcp', p) })),
  };
}

/** Parses HOSTPORT:CONTAINERPORT[/udp] (ports:add). */
export function parsePortMapping(spec: string): PortMapping {
  const m = /^(\d{1,5}):(\d{1,5})(?:\/(tcp|udp))?$/.exec(spec.trim());
  const host = Number(m?.[1]);
  const container = Number(m?.[2]);
  if (!m || host < 1 || host > 65535 || container < 1 || container > 65535) {
    throw new GokuError(
      'GOKU_ERR_INVALID_PORT',
      `invalid port mapping ${JSON.stringify(spec.slice(0, 40))}: use HOSTPORT:CONTAINERPORT[/udp] with ports from 1 to 65535, e.g. 2222:22`,
    );
  }
  return { host, container, proto: (m[3] ?? 'tcp') as 'tcp' | 'udp' };
}

/**
 * Domains of a deployment (README, walkthrough): DEPLOYMENT.BASE; the default deployment also at
 * APP-SLUG(branch).BASE; then CNAME lines and domains:add extras.
 */
export function deploymentDomains(opts: {
  app: string;
  deployment: string;
  branch: string;
  baseDomain: string;
  cname: readonly string[];
  extra: readonly string[];
}): string[] {
  const out = [`${opts.deployment}.${opts.baseDomain}`];
  if (opts.deployment === opts.app) {
    const slug = branchSlug(opts.app, opts.branch);
    if (slug) out.push(`${opts.app}-${slug}.${opts.baseDomain}`);
  }
  for (const d of [...opts.cname, ...opts.extra]) if (!out.includes(d)) out.push(d);
  return out;
}

/** The route without one instance's address (it is about to stop: a liveness restart). */
export function withoutAddress(route: Route, ip: string): Route {
  return eachTarget(route, (targets) => targets.filter((t) => t.slice(0, t.lastIndexOf(':')) !== ip));
}

/**
 * The route with each instance address moved (old IP → new IP), for containers that were
 * stopped and started again: Docker may give them other addresses.
 */
export function remapRoute(route: Route, moved: ReadonlyMap<string, string>): Route {
  const move = (target: string) => {
    const at = target.lastIndexOf(':');
    const ip = target.slice(0, at);
    return `${moved.get(ip) ?? ip}${target.slice(at)}`;
  };
  return eachTarget(route, (targets) => targets.map(move));
}

/** A copy of the route with every list of instance addresses (HTTP, backup, stream, extra ports) passed through fn. */
function eachTarget(route: Route, fn: (targets: string[]) => string[]): Route {
  return {
    ...route,
    domains: [...route.domains],
    upstreams: fn(route.upstreams),
    ...(route.backups ? { backups: fn(route.backups) } : {}),
    streams: route.streams.map((st) => ({ mapping: { ...st.mapping }, targets: fn(st.targets) })),
    ...(route.extraHttp
      ? { extraHttp: route.extraHttp.map((e) => ({ mapping: { ...e.mapping }, upstreams: fn(e.upstreams) })) }
      : {}),
  };
}

/**
 * Parses Dokku's SCHEME:HOST:CONTAINER for proxy:ports-add/remove. Only http is served (https
 * comes with TLS); tcp and udp ports are ports:add's.
 */
export function parseHttpMapping(spec: string): HttpPortMapping {
  const m = /^([a-z]+):(\d{1,5}):(\d{1,5})$/.exec(spec.trim());
  const host = Number(m?.[2]);
  const container = Number(m?.[3]);
  if (!m || host < 1 || host > 65535 || container < 1 || container > 65535) {
    throw new GokuError(
      'GOKU_ERR_INVALID_PORT',
      `invalid proxy port mapping ${JSON.stringify(spec.slice(0, 40))}: use http:HOSTPORT:CONTAINERPORT with ports from 1 to 65535, e.g. http:8080:5000`,
    );
  }
  if (m[1] !== 'http') {
    throw new GokuError(
      'GOKU_ERR_INVALID_PORT',
      `scheme ${m[1]} is not served by proxy:ports-add: only http (for tcp or udp, use goku ports:add APP HOST:CONTAINER[/udp])`,
    );
  }
  return { host, container };
}
