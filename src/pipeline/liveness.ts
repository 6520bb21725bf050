import type { Logger } from 'pino';
import type { HttpCheck } from '../core/checks.js';
import { withoutAddress } from '../core/routes.js';
import { oneLine } from '../errors.js';
import type { ContainerRuntime } from '../runtime/types.js';
import type { Settings } from '../settings.js';
import { containerIdsOf, type DeploymentView, type Store } from '../store/types.js';
import { probe } from './health.js';
import type { AppLocks } from './locks.js';
import type { RouteTable } from './routing.js';

const TICK_MS = 1000;

interface ProbeState {
  next: number;
  fails: number;
  busy: boolean;
}

/**
 * app.json's liveness checks, after the switch: every running web container of a deployment
 * that has them is probed every `wait` seconds (at least 1) once it has been up `initialDelay`
 * seconds; `attempts` failures in a row restart it (SIGTERM, GOKU_STOP_GRACE, start), as a
 * Kubernetes liveness probe does, out of nginx's upstream while it is down.
 */
export class LivenessMonitor {
  private timer: NodeJS.Timeout | null = null;
  private readonly state = new Map<string, ProbeState>();

  constructor(
    private readonly d: {
      store: Store;
      runtime: ContainerRuntime;
      log: Logger;
      settings: Settings;
      routes: RouteTable;
      locks: AppLocks;
      /** Brings the app's routes in line with its containers now (the reconciler's refresh). */
      refresh: (app: string) => Promise<void>;
    },
  ) {}

  start(): void {
    this.timer = setInterval(() => this.tick(), TICK_MS);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  private tick(): void {
    const seen = new Set<string>();
    for (const app of Object.values(this.d.store.read().apps)) {
      if (app.stopped) continue;
      for (const dep of Object.values(app.deployments)) {
        for (const [i, c] of (dep.liveness ?? []).entries()) {
          for (const id of containerIdsOf(dep)) {
            const key = `${id}/${i}`;
            seen.add(key);
            let st = this.state.get(key);
            if (!st) {
              st = { next: 0, fails: 0, busy: false };
              this.state.set(key, st);
            }
            if (st.busy || Date.now() < st.next) continue;
            const s = st;
            s.busy = true;
            void this.check(app.name, dep, id, c as HttpCheck, s)
              .catch((err) =>
                this.d.log.warn({ app: app.name, err: oneLine(err) }, 'liveness probe failed to run'),
              )
              .finally(() => {
                s.busy = false;
                s.next = Date.now() + Math.max(1, c.wait) * 1000;
              });
          }
        }
      }
    }
    for (const k of this.state.keys()) if (!seen.has(k)) this.state.delete(k);
  }

  private async check(
    app: string,
    dep: DeploymentView,
    id: string,
    c: HttpCheck,
    st: ProbeState,
  ): Promise<void> {
    const s = await this.d.runtime.inspectContainer(id);
    // Not running (ps:stop, a crash Docker restarts) or not up for initialDelay yet: not probed.
    if (!s?.running || !s.ip || Date.parse(s.startedAt) + c.initialDelay * 1000 > Date.now()) {
      st.fails = 0;
      return;
    }
    const why = await probe(this.d.runtime, id, s.ip, c.port ?? dep.port, c);
    if (why === null) {
      st.fails = 0;
      return;
    }
    st.fails++;
    this.d.log.warn(
      { app, container: s.name, check: c.name, why, fails: st.fails, attempts: c.attempts },
      'liveness check failed',
    );
    if (st.fails < c.attempts) return;
    st.fails = 0;
    this.d.log.warn(
      { app, container: s.name, check: c.name },
      `restarting ${s.name}: liveness check ${c.name} failed ${c.attempts} times in a row (${why})`,
    );
    // Not `docker restart`: a stopped container's address is free for any new container at
    // once, so nginx stops sending it requests before it stops (under the app's lock, so that
    // no refresh puts it back meanwhile) and learns its new address once it runs again.
    const ip = s.ip;
    await this.d.locks.run(
      app,
      async () => {
        const route = this.d.routes.get(dep.name);
        if (route) await this.d.routes.change([withoutAddress(route, ip)]);
        await this.d.runtime.stopContainer(id, this.d.settings.GOKU_STOP_GRACE);
        await this.d.runtime.startContainer(id);
      },
      undefined,
      { quiet: true },
    );
    await this.d.refresh(app);
  }
}
