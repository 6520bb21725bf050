import { branchSlug } from './names.js';

/** One routed deployment as nginx sees it. Pure data, rendered by the proxy adapter. */
export interface Route {
  app: string;
  deployment: string;
  domains: string[];
  /** host:port of each running instance; empty means nothing to send traffic to (503). */
  upstreams: string[];
  /** Sent back in X-Goku-Release so a switch can be confirmed through nginx. */
  release: string;
}

export interface NginxModel {
  listen: string;
  managed: boolean;
  home: string;
  routes: (Route & { upstreamName: string })[];
}

export function listenAddress(host: string, port: number): string {
  if (host === '0.0.0.0' || host === '*') return String(port);
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/** Stable order and nginx-safe upstream names, so identical state renders identical text. */
export function nginxModel(
  routes: Iterable<Route>,
  opts: { host: string; port: number; managed: boolean; home: string },
): NginxModel {
  const sorted = [...routes].sort((a, b) => (a.deployment < b.deployment ? -1 : 1));
  return {
    listen: listenAddress(opts.host, opts.port),
    managed: opts.managed,
    home: opts.home,
    routes: sorted.map((r) => ({ ...r, upstreamName: `goku_${r.deployment.replace(/[^a-z0-9]/g, '_')}` })),
  };
}

/**
 * Domains of a deployment (INTERFACE §4): DEPLOYMENT.BASE; the default deployment also at
 * APP-SLUG(branch).BASE; then CNAME lines and domains:add extras.
 */
export function deploymentDomains(opts: {
  app: string;
  deployment: string;
  branch: string;
  baseDomain: string;
  cname: string[];
  extra: string[];
}): string[] {
  const out = [`${opts.deployment}.${opts.baseDomain}`];
  if (opts.deployment === opts.app) {
    const slug = branchSlug(opts.app, opts.branch);
    if (slug) out.push(`${opts.app}-${slug}.${opts.baseDomain}`);
  }
  for (const d of [...opts.cname, ...opts.extra]) if (!out.includes(d)) out.push(d);
  return out;
}
