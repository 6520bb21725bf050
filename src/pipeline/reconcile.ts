import type { Logger } from 'pino';
import { lineReader } from '../control/protocol.js';
import { makeRoute, type Route } from '../core/routes.js';
import { oneLine } from '../errors.js';
import type { ContainerRuntime, ContainerState, ContainerSummary } from '../runtime/types.js';
import type { Settings } from '../settings.js';
import {
  type AppView,
  allContainerIdsOf,
  containerIdsOf,
  containerNamesOf,
  type DeploymentView,
  type ServiceRecord,
  type Snapshot,
  type Store,
} from '../store/types.js';
import { domainsFor } from './context.js';
import type { AppLocks } from './locks.js';
import { composeRouteKey, type RouteTable } from './routing.js';
import type { Scheduler } from './scheduler.js';

export interface ReconcilerDeps {
  settings: Settings;
  store: Store;
  runtime: ContainerRuntime;
  routes: RouteTable;
  locks: AppLocks;
  log: Logger;
  homeLabel: string;
  /** Where a deployment's instances are when its record does not name containers (Swarm tasks). */
  scheduler: Pick<Scheduler, 'addresses'>;
}

const SWEEP_MS = 5000;

/**
 * Keeps routing true to what Docker runs: at start it rebuilds the route table from the store
 * and container labels (removing leftovers of interrupted deploys), and afterwards it follows
 * Docker events, so a restarted container's new address reaches nginx within moments.
 */
export class Reconciler {
  private stopped = false;
  private events: NodeJS.ReadableStream | null = null;
  private readonly pending = new Set<string>();
  private timer: NodeJS.Timeout | null = null;
  private sweep: NodeJS.Timeout | null = null;
  private readonly servicesFailing = new Set<string>();
  private sweeping = false;

  constructor(private readonly d: ReconcilerDeps) {}

  /** Computes every route from the store and Docker; removes containers no record owns. */
  async initialRoutes(): Promise<Route[]> {
    const data = this.d.store.read();
    const ours = await this.d.runtime.listContainers({ 'goku.home': this.d.homeLabel });
    const listed = byId(ours);
    const stateOf = new Map(ours.map((c) => [c.id, c.state]));
    const deps = Object.values(data.apps).flatMap((app) =>
      Object.values(app.deployments).map((dep) => ({ app, dep })),
    );
    const owned = new Set(deps.flatMap(({ dep }) => allContainerIdsOf(dep)));
    // Leftovers go first: a recorded container started again below may be of an app that
    // must not run two copies (a stop-first deploy cut off with its new container running).
    for (const c of ours) {
      // One-off containers (goku run) belong to whoever started them, not to a deploy.
      if (!owned.has(c.id) && c.labels['goku.oneoff'] !== '1') {
        this.d.log.info({ container: c.name }, 'removing leftover container of an interrupted deploy');
        await this.d.runtime
          .removeContainer(c.id)
          .catch((err) => this.d.log.warn({ container: c.name, err: oneLine(err) }, 'could not remove it'));
      }
    }
    const routes: Route[] = [];
    for (const { app, dep } of deps) {
      // One listing for all apps: a thousand apps must not cost a thousand inspects at start.
      // Recorded containers found stopped start again (ps:stop keeps them stopped); the
      // unrouted ones (other process types, compose services) too.
      const seen = new Map<string, Instance | null>();
      for (const id of allContainerIdsOf(dep)) {
        const at = listed.get(id) ?? null;
        seen.set(id, app.stopped ? at : await this.running(app.name, id, at, stateOf.get(id)));
      }
      for (const r of this.routesFor(app, dep, (id) => seen.get(id) ?? null).values()) if (r) routes.push(r);
    }
    // Records of apps destroyed while goku was down.
    const stale = new Set((await this.d.store.services().catch(() => [])).map((r) => r.app));
    for (const app of stale) if (!data.apps[app]) await this.syncServices(app, []);
    await this.restoreNames(data.apps, ours);
    return routes;
  }

  /**
   * A goku stopped between retiring the old containers and renaming the new ones leaves them
   * with temporary names (DEPLOYMENT--RELEASE); the old ones are gone now, so finish the rename.
   */
  private async restoreNames(apps: Snapshot['apps'], ours: { id: string; name: string }[]) {
    const prefix = this.d.settings.GOKU_CONTAINER_PREFIX;
    for (const app of Object.values(apps)) {
      for (const dep of Object.values(app.deployments)) {
        for (const { id, name: want } of containerNamesOf(dep, prefix)) {
          const c = ours.find((x) => x.id === id);
          // Only the temporary names (WANT--RELEASE) of an interrupted switch are finished.
          if (!c?.name.startsWith(`${want}--`)) continue;
          await this.d.runtime
            .renameContainer(id, want)
            .then(() => this.d.log.info({ from: c.name, to: want }, 'gave a container its name back'))
            .catch((err) => this.d.log.warn({ container: c.name, err: oneLine(err) }, 'could not rename'));
        }
      }
    }
  }

  /**
   * A recorded container found stopped at start is started again: Docker restarts the ones that
   * crash, so a stopped one was stopped, by a stop-first deploy (schedule --downtime) that goku's
   * stop cut off, or by hand; goku's record says it runs.
   */
  private async running(
    app: string,
    id: string,
    seen: Instance | null,
    state: string | undefined,
  ): Promise<Instance | null> {
    if (!seen || (state !== 'exited' && state !== 'created')) return seen;
    this.d.log.info({ app, container: id.slice(0, 12) }, 'starting a recorded container found stopped');
    try {
      await this.d.runtime.startContainer(id);
      return await this.d.runtime.inspectContainer(id);
    } catch (err) {
      this.d.log.warn({ app, container: id.slice(0, 12), err: oneLine(err) }, 'could not start it');
      return seen;
    }
  }

  /** The containers routing reads (web's; every service's of a compose deployment) inspected, by id. */
  private async instances(dep: DeploymentView): Promise<Map<string, ContainerState | null>> {
    const ids = dep.compose ? allContainerIdsOf(dep) : idsOf(dep);
    const states = await Promise.all(ids.map((id) => this.d.runtime.inspectContainer(id)));
    return new Map(ids.map((id, i) => [id, states[i] ?? null]));
  }

  /**
   * The routes of a deployment by key, from its containers' states: one for a deployment
   * (null: not routed), one per routed service of a compose deployment (DEPLOYMENT/SERVICE,
   * the web service's under the deployment's own key).
   */
  routesFor(
    app: AppView,
    dep: DeploymentView,
    state: (id: string) => Instance | null,
  ): Map<string, Route | null> {
    if (!dep.compose) return new Map([[dep.name, this.routeFor(app, dep, idsOf(dep).map(state))]]);
    const out = new Map<string, Route | null>();
    const own = dep.name === app.name;
    for (const [name, s] of Object.entries(dep.compose.services)) {
      if (!s.port) continue;
      out.set(
        composeRouteKey(dep.name, name, s.web),
        makeRoute({
          app: app.name,
          deployment: composeRouteKey(dep.name, name, s.web),
          domains: s.web
            ? domainsFor(this.d, app, dep.name, dep.branch, dep.cnameDomains)
            : [`${name}.${dep.name}.${this.d.settings.GOKU_DOMAIN}`],
          ips:
            this.d.scheduler.addresses(dep, name) ??
            s.containerIds.flatMap((id) => {
              const st = state(id);
              return st?.running && st.ip ? [st.ip] : [];
            }),
          port: s.port,
          ports: s.web && own ? (app.ports ?? []) : [],
          httpPorts: s.web && own ? (app.proxyPorts ?? []) : [],
          release: s.release,
        }),
      );
    }
    return out;
  }

  routeFor(app: AppView, dep: DeploymentView, states: (Instance | null)[]): Route | null {
    const ports = dep.name === app.name ? (app.ports ?? []) : [];
    if (!dep.port && ports.length === 0) return null;
    return makeRoute({
      app: app.name,
      deployment: dep.name,
      domains: domainsFor(this.d, app, dep.name, dep.branch, dep.cnameDomains),
      ips: this.d.scheduler.addresses(dep) ?? states.flatMap((st) => (st?.running && st.ip ? [st.ip] : [])),
      port: dep.port,
      ports,
      httpPorts: dep.name === app.name ? (app.proxyPorts ?? []) : [],
      release: dep.release,
    });
  }

  /** Follows Docker events; reconnects (and resyncs everything) when dockerd goes away and comes back. */
  async watch(): Promise<void> {
    // A safety net under the events: an event missed while dockerd restarts (or a state seen
    // half-way through its start-up) is corrected at the next sweep; unchanged routes cost nothing.
    this.sweep = setInterval(() => void this.sweepAll(), SWEEP_MS);
    this.sweep.unref();
    while (!this.stopped) {
      try {
        const stream = await this.d.runtime.containerEvents({ 'goku.home': this.d.homeLabel });
        this.events = stream;
        void this.sweepAll();
        await new Promise<void>((resolve) => {
          stream.on(
            'data',
            lineReader((line) => {
              try {
                const ev = JSON.parse(line) as { Actor?: { Attributes?: Record<string, string> } };
                const app = ev.Actor?.Attributes?.['goku.app'];
                if (app) this.schedule(app);
              } catch {
                // not an event line
              }
            }),
          );
          stream.on('end', resolve);
          stream.on('close', resolve);
          stream.on('error', resolve);
        });
      } catch (err) {
        if (!this.stopped) this.d.log.warn({ err: oneLine(err) }, 'docker events unavailable; retrying');
      }
      if (!this.stopped) await new Promise((r) => setTimeout(r, 1000));
    }
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.sweep) clearInterval(this.sweep);
    const ev = this.events as (NodeJS.ReadableStream & { destroy?: () => void }) | null;
    ev?.destroy?.();
  }

  /** Service records are for other programs: a store that cannot take them never stops routing. */
  private async syncServices(app: string, records: ServiceRecord[]): Promise<void> {
    try {
      await this.d.store.syncServices(app, records);
      this.servicesFailing.delete(app);
    } catch (err) {
      if (!this.servicesFailing.has(app))
        this.d.log.warn(
          { app, err: oneLine(err) },
          'service records not updated; retrying at the next sweep',
        );
      this.servicesFailing.add(app);
    }
  }

  /**
   * The safety net's pass: one container listing and one read of the service records serve
   * every app; only apps whose routes or records differ from them are refreshed (under their
   * locks, with inspects). A sweep of a thousand quiet apps is two calls, not a thousand.
   */
  private async sweepAll(): Promise<void> {
    if (this.sweeping) return;
    this.sweeping = true;
    try {
      const listed = byId(await this.d.runtime.listContainers({ 'goku.home': this.d.homeLabel }));
      const records = await this.d.store.services().then(
        (all) => {
          const m = new Map<string, ServiceRecord[]>();
          for (const r of all) {
            const mine = m.get(r.app);
            if (mine) mine.push(r);
            else m.set(r.app, [r]);
          }
          return m;
        },
        () => null, // unavailable: apps whose records failed are retried below anyway
      );
      const writes: Promise<void>[] = [];
      for (const app of Object.values(this.d.store.read().apps)) {
        const seen = await this.compare(app, listed, records);
        if (seen.routes || this.servicesFailing.has(app.name)) this.schedule(app.name);
        // Only the records are behind (a first start, a Consul agent that lost them): write
        // them from the listing, all in one go, without an inspect per app.
        else if (seen.services) writes.push(this.syncServices(app.name, seen.services));
      }
      await Promise.all(writes);
    } catch (err) {
      this.d.log.warn({ err: oneLine(err) }, 'reconcile sweep failed; retrying at the next');
    } finally {
      this.sweeping = false;
    }
  }

  /**
   * How the listing differs from what nginx and the service records have for an app: routes
   * true when a route differs; services, the records to write when only they differ.
   */
  private async compare(
    app: AppView,
    listed: Map<string, Instance>,
    records: Map<string, ServiceRecord[]> | null,
  ): Promise<{ routes: boolean; services?: ServiceRecord[] }> {
    const services: ServiceRecord[] = [];
    for (const dep of Object.values(app.deployments)) {
      const state = (id: string) => listed.get(id) ?? null;
      for (const [key, next] of this.routesFor(app, dep, state)) {
        if (JSON.stringify(next ?? undefined) !== JSON.stringify(this.d.routes.get(key)))
          return { routes: true };
      }
      services.push(...serviceRecords(app.name, dep, state));
    }
    if (!records) return { routes: false };
    const key = (xs: ServiceRecord[]) => JSON.stringify([...xs].sort((a, b) => (a.id < b.id ? -1 : 1)));
    return key(services) === key(records.get(app.name) ?? [])
      ? { routes: false }
      : { routes: false, services };
  }

  /** Coalesces bursts of events (die + start) into one check per app. */
  private schedule(app: string): void {
    this.pending.add(app);
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      const apps = [...this.pending];
      this.pending.clear();
      for (const a of apps) {
        this.refresh(a).catch((err) =>
          this.d.log.error({ app: a, err: oneLine(err) }, 'route update failed'),
        );
      }
    }, 100);
  }

  /**
   * Re-reads one app's containers and records under its lock (so it never races a deploy) and
   * applies any route change to nginx (throws when nginx refuses it), then brings the app's
   * service records in line with its running instances.
   */
  async refresh(app: string): Promise<void> {
    await this.d.locks.run(
      app,
      async () => {
        const rec = this.d.store.read().apps[app];
        if (!rec) {
          await this.syncServices(app, []);
          return;
        }
        const changed: Route[] = [];
        const removed: string[] = [];
        const services: ServiceRecord[] = [];
        let complete = true;
        for (const dep of Object.values(rec.deployments)) {
          let states: Map<string, ContainerState | null>;
          try {
            states = await this.instances(dep);
          } catch {
            complete = false;
            continue; // Docker not answering: keep what nginx has
          }
          const state = (id: string) => states.get(id) ?? null;
          services.push(...serviceRecords(app, dep, state));
          for (const [key, next] of this.routesFor(rec, dep, state)) {
            const cur = this.d.routes.get(key);
            if (next && JSON.stringify(next) !== JSON.stringify(cur)) changed.push(next);
            if (!next && cur) removed.push(key);
          }
        }
        if (changed.length > 0 || removed.length > 0) {
          this.d.log.info(
            { app, upstreams: changed.map((r) => r.upstreams), removed },
            'updating nginx routes',
          );
          await this.d.routes.change(changed, removed);
        }
        if (complete) await this.syncServices(app, services);
      },
      undefined,
      { quiet: true },
    );
  }
}

/**
 * The running instances of a deployment as service records (id = the instance's container
 * name; a compose service's are named DEPLOYMENT-SERVICE, with its port).
 */
export function serviceRecords(
  app: string,
  dep: DeploymentView,
  state: (id: string) => Instance | null,
): ServiceRecord[] {
  if (dep.compose) {
    return Object.entries(dep.compose.services).flatMap(([name, s]) =>
      s.containerIds.flatMap((id, i) => {
        const st = state(id);
        const base = `${dep.name}-${name}`;
        return st?.running && st.ip
          ? [
              {
                id: i === 0 ? base : `${base}.${i + 1}`,
                name: base,
                app,
                address: st.ip,
                port: s.port ?? 0,
                tags: [
                  'goku',
                  `goku-app=${app}`,
                  `goku-branch=${dep.branch}`,
                  `goku-release=${s.release}`,
                  `goku-service=${name}`,
                ],
              },
            ]
          : [];
      }),
    );
  }
  return idsOf(dep)
    .map(state)
    .flatMap((st, i) =>
      st?.running && st.ip
        ? [
            {
              id: i === 0 ? dep.name : `${dep.name}.${i + 1}`,
              name: dep.name,
              app,
              address: st.ip,
              port: dep.port ?? 0,
              tags: ['goku', `goku-app=${app}`, `goku-branch=${dep.branch}`, `goku-release=${dep.release}`],
            },
          ]
        : [],
    );
}

/** What routing needs of a container, from an inspect or a listing. */
type Instance = Pick<ContainerState, 'running' | 'ip'>;

const idsOf = containerIdsOf;

/** A listing by container id; a container missing from it does not exist (the listing has all states). */
function byId(list: ContainerSummary[]): Map<string, Instance> {
  return new Map(list.map((c) => [c.id, { running: c.state === 'running', ip: c.ip }]));
}
