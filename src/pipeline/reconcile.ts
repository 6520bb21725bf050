import type { Logger } from 'pino';
import { lineReader } from '../control/protocol.js';
import { deploymentDomains, makeRoute, type Route } from '../core/routes.js';
import type { DockerEngine } from '../docker/engine.js';
import { oneLine } from '../errors.js';
import type { Settings } from '../settings.js';
import type { AppRecord, DeploymentRecord, Store } from '../store/types.js';
import type { AppLocks } from './locks.js';
import type { RouteTable } from './routing.js';

export interface ReconcilerDeps {
  settings: Settings;
  store: Store;
  docker: DockerEngine;
  routes: RouteTable;
  locks: AppLocks;
  log: Logger;
  homeLabel: string;
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

  constructor(private readonly d: ReconcilerDeps) {}

  /** Computes every route from the store and Docker; removes containers no record owns. */
  async initialRoutes(): Promise<Route[]> {
    const data = this.d.store.read();
    const ours = await this.d.docker.listContainers({ 'goku.home': this.d.homeLabel });
    const owned = new Set<string>();
    const routes: Route[] = [];
    for (const app of Object.values(data.apps)) {
      for (const dep of Object.values(app.deployments)) {
        for (const id of dep.containerIds ?? [dep.containerId]) owned.add(id);
        const r = await this.routeFor(app, dep);
        if (r) routes.push(r);
      }
    }
    for (const c of ours) {
      if (!owned.has(c.id)) {
        this.d.log.info({ container: c.name }, 'removing leftover container of an interrupted deploy');
        await this.d.docker.removeContainer(c.id).catch(() => undefined);
      }
    }
    return routes;
  }

  async routeFor(app: AppRecord, dep: DeploymentRecord): Promise<Route | null> {
    const ports = dep.name === app.name ? (app.ports ?? []) : [];
    if (!dep.port && ports.length === 0) return null;
    const states = await Promise.all(
      (dep.containerIds ?? [dep.containerId]).filter(Boolean).map((id) => this.d.docker.inspectContainer(id)),
    );
    return makeRoute({
      app: app.name,
      deployment: dep.name,
      domains: deploymentDomains({
        app: app.name,
        deployment: dep.name,
        branch: dep.branch,
        baseDomain: this.d.settings.GOKU_DOMAIN,
        cname: dep.cnameDomains,
        extra: dep.name === app.name ? app.domains : [],
      }),
      ips: states.flatMap((st) => (st?.running && st.ip ? [st.ip] : [])),
      port: dep.port,
      ports,
      release: dep.release,
    });
  }

  /** Follows Docker events; reconnects (and resyncs everything) when dockerd goes away and comes back. */
  async watch(): Promise<void> {
    // A safety net under the events: an event missed while dockerd restarts (or a state seen
    // half-way through its start-up) is corrected at the next sweep; unchanged routes cost nothing.
    this.sweep = setInterval(() => this.scheduleAll(), SWEEP_MS);
    this.sweep.unref();
    while (!this.stopped) {
      try {
        const stream = await this.d.docker.containerEvents({ 'goku.home': this.d.homeLabel });
        this.events = stream;
        this.scheduleAll();
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

  private scheduleAll(): void {
    for (const app of Object.keys(this.d.store.read().apps)) this.schedule(app);
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

  /** Re-reads one app's containers under its lock, so it never races a deploy. */
  /**
   * Re-reads one app's containers and records under its lock (so it never races a deploy) and
   * applies any route change to nginx; throws when nginx refuses it.
   */
  async refresh(app: string): Promise<void> {
    await this.d.locks.run(
      app,
      async () => {
        const rec = this.d.store.read().apps[app];
        if (!rec) return;
        const changed: Route[] = [];
        const removed: string[] = [];
        for (const dep of Object.values(rec.deployments)) {
          let next: Route | null;
          try {
            next = await this.routeFor(rec, dep);
          } catch {
            continue; // Docker not answering: keep what nginx has
          }
          const cur = this.d.routes.get(dep.name);
          if (next && JSON.stringify(next) !== JSON.stringify(cur)) changed.push(next);
          if (!next && cur) removed.push(dep.name);
        }
        if (changed.length === 0 && removed.length === 0) return;
        this.d.log.info(
          { app, upstreams: changed.map((r) => r.upstreams), removed },
          'updating nginx routes',
        );
        await this.d.routes.change(changed, removed);
      },
      undefined,
      { quiet: true },
    );
  }
}
