import type { Route } from '../core/routes.js';
import type { NginxProxy } from '../proxy/nginx.js';

/** The live route table; every change is applied to nginx as a whole config. */
export class RouteTable {
  private readonly routes = new Map<string, Route>();
  /** The change applied last (or being applied): the next one starts after it. */
  private last: Promise<void> = Promise.resolve();
  /** Runs after each applied change (the certificates' SNI links follow the served domains). */
  private afterChange: () => Promise<void> = async () => {};
  constructor(private readonly proxy: NginxProxy) {}

  onChange(fn: () => Promise<void>): void {
    this.afterChange = fn;
  }

  get(deployment: string): Route | undefined {
    return this.routes.get(deployment);
  }

  all(): Route[] {
    return [...this.routes.values()];
  }

  /** Every route's key: a deployment's name, or DEPLOYMENT/SERVICE for a compose service. */
  keys(): string[] {
    return [...this.routes.keys()];
  }

  /** Domains in use by any deployment except the one named. */
  domainOwners(): Map<string, Route> {
    const owners = new Map<string, Route>();
    for (const r of this.routes.values()) for (const d of r.domains) owners.set(d, r);
    return owners;
  }

  /**
   * Applies a change; if nginx refuses it the table is left as it was. Changes run one at a
   * time, each on the table the one before left: deploys of different apps run in parallel,
   * and a change computed from a table another change was replacing would put that one's
   * routes back as they were (in nginx too), until the reconciler noticed.
   */
  change(set: Route[], remove: string[] = []): Promise<void> {
    const run = async () => {
      const next = new Map(this.routes);
      for (const d of remove) next.delete(d);
      for (const r of set) next.set(r.deployment, r);
      await this.proxy.apply([...next.values()]);
      this.routes.clear();
      for (const [k, v] of next) this.routes.set(k, v);
      await this.afterChange();
    };
    const done = this.last.then(run, run);
    this.last = done.catch(() => undefined);
    return done;
  }

  /** Asks through nginx until the domain answers with the release header. */
  proxyConfirm(domain: string, release: string): Promise<void> {
    return this.proxy.confirm(domain, release);
  }

  /** Waits until nginx listens on each published TCP port of the route (UDP cannot be asked). */
  async confirmStreams(route: Route): Promise<void> {
    for (const st of route.streams) {
      if (st.mapping.proto === 'tcp' && st.targets.length > 0)
        await this.proxy.confirmListening(st.mapping.host);
    }
  }

  /** Waits until no nginx worker with an older config is left (see NginxProxy.drained). */
  drained(): Promise<void> {
    return this.proxy.drained();
  }

  /** Fills the table at start without touching nginx (the caller starts or adopts it with all()). */
  seed(routes: Route[]): void {
    this.routes.clear();
    for (const r of routes) this.routes.set(r.deployment, r);
  }
}

/** The route key of a compose service: the deployment's own for web, DEPLOYMENT/SERVICE for the others. */
export function composeRouteKey(deployment: string, service: string, web: boolean): string {
  return web ? deployment : `${deployment}/${service}`;
}

/** The route keys the table holds for a deployment: its own and DEPLOYMENT/SERVICE ones. */
export function ownedRouteKeys(d: { routes: RouteTable }, deployment: string): string[] {
  return d.routes.keys().filter((k) => k === deployment || k.startsWith(`${deployment}/`));
}
