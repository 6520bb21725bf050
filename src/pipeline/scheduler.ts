import { GokuError } from '../errors.js';
import { type AppView, allContainerIdsOf, type DeploymentView } from '../store/types.js';
import { type ComposeSpec, composeSwitch } from './compose.js';
import type { Out, PipelineDeps } from './context.js';
import { removeDeployment } from './retire.js';
import { type Switched, type SwitchSpec, switchTo } from './switch.js';

export interface Instance {
  deployment: string;
  /** Its process type (web, worker, ...; Procfile). */
  process: string;
  name: string;
  /** The container's short id (12 hex digits), as docker ps shows it. */
  id: string;
  state: string;
  status: string;
  /** The release the container runs, as users number them: vN. */
  release: string;
  /** goku's internal id of that release's containers and image (its tag). */
  routeId: string;
  commit: string;
  created: string;
  /** The swarm node it runs on (Swarm tasks only). */
  node?: string;
}

/** What reading instances needs (the app layer's deps have it too). */
export type InstanceDeps = Pick<PipelineDeps, 'runtime' | 'homeLabel' | 'settings'>;

/** Log options of `goku logs`. */
export interface LogOptions {
  tail: number;
  follow: boolean;
  signal?: AbortSignal;
}

/**
 * Where deployments run: the seam between the pipeline and the engine's way of running them.
 * Every source (git push, image, rollback, config, scale, rename) hands its SwitchSpec to the
 * scheduler; the reconciler asks it where a deployment's instances are. Two exist: containers
 * on goku's engine (docker) and Swarm services (swarm); nothing else branches on the mode.
 */
export interface Scheduler {
  /**
   * Whether ports:add may publish UDP ports: the routes nginx listens on this machine's ports
   * (Swarm: the edge relays TCP ports to it over unix sockets, which cannot carry UDP).
   */
  readonly udp: boolean;
  /** Throws, with where to go instead, when this goku deploys nothing (a swarm worker's). */
  assertDeploys(): void;
  /** Brings up the spec beside what runs, checks it, routes to it and records it (see switchTo). */
  switchTo(d: PipelineDeps, spec: SwitchSpec, out: Out, lap?: (stage: string) => void): Promise<Switched>;
  /** The same for a compose deployment (its services, each checked and routed). */
  switchCompose(d: PipelineDeps, spec: ComposeSpec, out: Out): Promise<Switched>;
  /** Takes a deployment down: its route, what runs it, its images and record. */
  removeDeployment(d: PipelineDeps, app: string, deployment: string, out: Out): Promise<void>;
  /**
   * The addresses of a deployment's routable web instances (of `service`'s, a compose
   * deployment's routed service) when the scheduler knows them (Swarm tasks); null: they are
   * the containers its record names.
   */
  addresses(dep: DeploymentView, service?: string): string[] | null;
  /** The app's instances (ps): its containers, or its services' tasks on every node. */
  instances(d: InstanceDeps, app: AppView): Promise<Instance[]>;
  /** Streams the instances' logs (prefixed with the instance when there are several). */
  logs(d: InstanceDeps, running: Instance[], opts: LogOptions, onLine: (line: string) => void): Promise<void>;
  /** ps:stop (under the app's lock): everything of the app stops; returns how many instances. */
  stopApp(d: InstanceDeps, app: string, out: Out): Promise<number>;
  /** ps:start (under the app's lock): what ps:stop stopped runs again; returns how many. */
  startApp(d: InstanceDeps, app: AppView, out: Out): Promise<number>;
  /** Starts following what runs (Swarm: its tasks); `changed` is told each app whose instances moved. */
  start(changed: (app: string) => void): Promise<void>;
  stop(): void;
}

/** Containers on goku's own engine: the switch in switch.ts, instances from the record. */
export class LocalScheduler implements Scheduler {
  readonly udp = true;

  assertDeploys(): void {}

  switchTo(d: PipelineDeps, spec: SwitchSpec, out: Out, lap?: (stage: string) => void): Promise<Switched> {
    return switchTo(d, spec, out, lap);
  }

  switchCompose(d: PipelineDeps, spec: ComposeSpec, out: Out): Promise<Switched> {
    return composeSwitch(d, spec, out);
  }

  removeDeployment(d: PipelineDeps, app: string, deployment: string, out: Out): Promise<void> {
    return removeDeployment(d, app, deployment, out);
  }

  addresses(): null {
    return null;
  }

  async instances(d: InstanceDeps, app: AppView): Promise<Instance[]> {
    const version = versionOf(app);
    const list = await d.runtime.listContainers({ 'goku.app': app.name, 'goku.home': d.homeLabel });
    return list
      .map((c) => ({
        deployment: c.labels['goku.deployment'] ?? '',
        process: c.labels['goku.process'] ?? 'web',
        name: c.name,
        id: c.id.slice(0, 12),
        state: c.state,
        status: c.status,
        release: version(c.labels['goku.release'] ?? ''),
        routeId: c.labels['goku.release'] ?? '',
        commit: (c.labels['goku.commit'] ?? '').slice(0, 7),
        created: new Date(c.created * 1000).toISOString(),
      }))
      .sort((a, b) => (a.name < b.name ? -1 : 1));
  }

  async logs(
    d: InstanceDeps,
    running: Instance[],
    opts: LogOptions,
    onLine: (line: string) => void,
  ): Promise<void> {
    const prefix = running.length > 1;
    // A new container runs as NAME--RELEASE until the switch renames it NAME: lines carry
    // the name it keeps, so a stream opened during a deploy does not show the passing one.
    const shown = (i: Instance) =>
      i.name.endsWith(`--${i.routeId}`) ? i.name.slice(0, -i.routeId.length - 2) : i.name;
    await Promise.all(
      running.map((i) =>
        d.runtime.streamLogs(i.name, opts, (line) => onLine(prefix ? `${shown(i)}: ${line}` : line)),
      ),
    );
  }

  async stopApp(d: InstanceDeps, app: string, out: Out): Promise<number> {
    const list = await d.runtime.listContainers({ 'goku.app': app, 'goku.home': d.homeLabel });
    const running = list.filter((c) => c.state === 'running' || c.state === 'restarting');
    for (const c of running) out(`-----> Stopping ${c.name}`);
    await Promise.all(running.map((c) => d.runtime.stopContainer(c.id, d.settings.GOKU_STOP_GRACE)));
    return running.length;
  }

  async startApp(d: InstanceDeps, app: AppView, out: Out): Promise<number> {
    const ids = Object.values(app.deployments).flatMap(allContainerIdsOf);
    if (ids.length === 0) {
      throw new GokuError(
        'GOKU_ERR_NOT_DEPLOYED',
        `app ${app.name} has no containers to start; push it (or ps:scale ${app.name} 1 if it is scaled to zero)`,
      );
    }
    let n = 0;
    for (const id of ids) {
      const st = await d.runtime.inspectContainer(id);
      if (!st || st.running) continue;
      out(`-----> Starting ${st.name}`);
      await d.runtime.startContainer(id);
      n++;
    }
    return n;
  }

  async start(): Promise<void> {}

  stop(): void {}
}

/** Maps a routing id to the release users know it as (vN), or '-' for one no release names. */
export function versionOf(app: AppView): (routeId: string) => string {
  const byId = new Map((app.releases ?? []).map((r) => [r.release, `v${r.version}`]));
  return (routeId) => byId.get(routeId) ?? '-';
}
