import { type InstanceStats, idleStats, instanceStats } from '../core/stats.js';
import { GokuError } from '../errors.js';
import type { RouteTable } from '../pipeline/routing.js';
import type { ContainerRuntime, StatsSample } from '../runtime/types.js';
import type { Settings } from '../settings.js';
import type { AppView, Store } from '../store/types.js';
import type { AppEvents } from './events.js';

export type AppState = 'deploying' | 'running' | 'failed' | 'stopped' | 'new';

/** One app as the dashboard lists it. */
export interface AppSummary {
  name: string;
  source: 'git' | 'image';
  imageRef: string | null;
  state: AppState;
  /** Why it is failed, or that its last deploy failed while the previous one serves. */
  note: string | null;
  deployments: { name: string; branch: string; domains: string[] }[];
  instances: number;
  release: { version: number; kind: string; status: string; at: string; by: string } | null;
  deploying: { kind: string; by: string; at: string } | null;
}

/**
 * What the dashboard shows that no command prints: every app's state in one Docker call, and
 * the resource use of an app's instances.
 */
export class Monitor {
  /** Each app's last samples by container id (only of what ran at the last call). */
  private readonly last = new Map<string, Map<string, { sample: StatsSample; at: number }>>();

  constructor(
    private readonly d: {
      settings: Settings;
      store: Store;
      runtime: ContainerRuntime;
      routes: RouteTable;
      events: AppEvents;
      homeLabel: string;
    },
  ) {}

  async overview(): Promise<AppSummary[]> {
    const counts = await this.instanceCounts({ 'goku.home': this.d.homeLabel });
    return Object.values(this.d.store.read().apps)
      .sort((a, b) => (a.name < b.name ? -1 : 1))
      .map((a) => this.summary(a, counts.get(a.name) ?? { up: 0, down: 0 }));
  }

  /** One app's summary, from its own containers only. */
  async app(name: string): Promise<AppSummary> {
    const rec = this.d.store.read().apps[name];
    if (!rec) throw new GokuError('GOKU_ERR_APP_NOT_FOUND', `app ${name} does not exist; see goku apps`);
    const counts = await this.instanceCounts({ 'goku.app': name, 'goku.home': this.d.homeLabel });
    return this.summary(rec, counts.get(name) ?? { up: 0, down: 0 });
  }

  /** Running and stopped-by-failure containers per app (one-off runs aside), in one Docker call. */
  private async instanceCounts(
    labels: Record<string, string>,
  ): Promise<Map<string, { up: number; down: number }>> {
    const counts = new Map<string, { up: number; down: number }>();
    for (const c of await this.d.runtime.listContainers(labels)) {
      const app = c.labels['goku.app'];
      if (!app || c.labels['goku.oneoff']) continue;
      const n = counts.get(app) ?? { up: 0, down: 0 };
      if (c.state === 'running') n.up++;
      else if (c.state === 'restarting' || c.state === 'exited' || c.state === 'dead') n.down++;
      counts.set(app, n);
    }
    return counts;
  }

  private summary(a: AppView, { up, down }: { up: number; down: number }): AppSummary {
    const releases = a.releases ?? [];
    const last = releases.at(-1);
    const deploying = this.d.events.active(a.name);
    const deps = Object.values(a.deployments).sort((x, y) => (x.name < y.name ? -1 : 1));
    let state: AppState = 'running';
    let note: string | null = null;
    if (deploying) state = 'deploying';
    else if (deps.length === 0) state = last?.status === 'failed' ? 'failed' : 'new';
    else if (a.stopped) state = 'stopped';
    else if (up === 0) {
      state = 'failed';
      note = down > 0 ? 'its containers exited' : 'no container runs';
    } else if (down > 0) note = `${down} instance${down > 1 ? 's' : ''} not running`;
    const serving = this.current(a);
    if (!note && last?.status === 'failed')
      note = serving ? `v${last.version} failed; v${serving} serves` : `v${last.version} failed`;
    const cur = releases.find((r) => r.version === serving);
    return {
      name: a.name,
      source: a.image ? 'image' : 'git',
      imageRef: a.image?.ref ?? null,
      state,
      note,
      deployments: deps.map((d) => ({
        name: d.name,
        branch: d.branch,
        domains: [...(this.d.routes.get(d.name)?.domains ?? [])],
      })),
      instances: up,
      release: cur
        ? {
            version: cur.version,
            kind: cur.kind,
            status: cur.status,
            at: cur.finishedAt ?? cur.startedAt,
            by: cur.by,
          }
        : null,
      deploying,
    };
  }

  /** The version the default deployment runs. */
  private current(a: AppView): number | null {
    const dep = a.deployments[a.name] ?? Object.values(a.deployments)[0];
    if (!dep) return null;
    return (
      (a.releases ?? []).find((r) => r.release === dep.release && r.status === 'succeeded')?.version ?? null
    );
  }

  /**
   * Each instance of the app (one-off runs aside) with its state and, when it runs, its CPU,
   * memory and network now (rates against this server's previous sample of it).
   */
  async stats(app: string): Promise<InstanceStats[]> {
    const rec = this.d.store.read().apps[app];
    const versions = new Map((rec?.releases ?? []).map((r) => [r.release, `v${r.version}`]));
    const list = (
      await this.d.runtime.listContainers({ 'goku.app': app, 'goku.home': this.d.homeLabel })
    ).filter((c) => !c.labels['goku.oneoff']);
    const now = Date.now();
    const before = this.last.get(app) ?? new Map<string, { sample: StatsSample; at: number }>();
    const after = new Map<string, { sample: StatsSample; at: number }>();
    const out = await Promise.all(
      list.map(async (c) => {
        const who = {
          name: c.name.slice(this.d.settings.GOKU_CONTAINER_PREFIX.length),
          process: c.labels['goku.process'] ?? 'web',
          release: versions.get(c.labels['goku.release'] ?? '') ?? '-',
        };
        const sample =
          c.state === 'running' ? await this.d.runtime.containerStats(c.id).catch(() => null) : null;
        if (!sample) return idleStats(who, c.state);
        const prev = before.get(c.id);
        after.set(c.id, { sample, at: now });
        return instanceStats(who, sample, prev?.sample, prev ? (now - prev.at) / 1000 : 0);
      }),
    );
    // Samples of containers that are gone are dropped: the map stays the size of what runs.
    if (after.size) this.last.set(app, after);
    else this.last.delete(app);
    return out.sort((a, b) => (a.name < b.name ? -1 : 1));
  }
}
