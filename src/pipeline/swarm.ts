import { setTimeout as sleep } from 'node:timers/promises';
import { commandArgv, DEFAULT_WEB_PORT } from '../core/procfile.js';
import type { Route } from '../core/routes.js';
import { overlayName, routableAddrs, serviceHealthcheck, serviceName } from '../core/swarm.js';
import { GokuError, oneLine } from '../errors.js';
import type { PullAuth, ServiceSpec, SwarmTask } from '../runtime/types.js';
import { registryAuth } from '../sources/image.js';
import type { AppView, DeploymentView, SwarmRecord } from '../store/types.js';
import type { ComposeSpec } from './compose.js';
import { appView, labels, type Out, type PipelineDeps, restoreRecord } from './context.js';
import { pruneImages, removeDeployment, retireOthers } from './retire.js';
import {
  type Instance,
  type InstanceDeps,
  LocalScheduler,
  type LogOptions,
  type Scheduler,
  versionOf,
} from './scheduler.js';
import { swarmComposeSwitch } from './swarm-compose.js';
import {
  type Attempt,
  newAttempt,
  type Planned,
  planSwitch,
  recordDeployment,
  restoreRoute,
  routeTo,
  type Switched,
  type SwitchSpec,
} from './switch.js';

/** How often tasks are read while a switch waits for Swarm, and between switches. */
const FAST_MS = 150;
const SLOW_MS = 1000;

/**
 * Deployments as Swarm services (GOKU_SCHEDULER=swarm on a manager): one service per process
 * type, replicas = the scale, updated start-first (each new task beside the old one) with the
 * app's checks as the service's health check, on an attachable overlay with dnsrr endpoints.
 * goku's routes nginx sits on that overlay and is given every task's address: no routing mesh,
 * no virtual IPs (this kernel has no IPVS). While Swarm replaces tasks the switch keeps nginx's
 * upstreams at the tasks that run; Docker takes a task out of service discovery and waits
 * before stopping it, and nginx tries the next task when one refuses a connection.
 */
export class SwarmScheduler implements Scheduler {
  readonly udp = false;

  assertDeploys(): void {}

  private readonly addrs = new Map<string, string[]>();
  private timer: NodeJS.Timeout | null = null;
  private polling = false;
  private changed: (app: string) => void = () => undefined;
  /** One-off containers (goku run) still run on this engine. */
  private readonly local = new LocalScheduler();

  constructor(
    private readonly d: PipelineDeps,
    /** This node's id: without GOKU_REGISTRY the services may run only here (the image is only here). */
    private readonly nodeId: string,
  ) {}

  get network(): string {
    return overlayName(this.d.settings.GOKU_CONTAINER_PREFIX);
  }

  /** The placement that keeps a service on this node (its image or its data are only here). */
  get here(): string {
    return `node.id==${this.nodeId}`;
  }

  async start(changed: (app: string) => void): Promise<void> {
    await this.d.runtime.ensureOverlay(this.network, { 'goku.home': this.d.homeLabel });
    // The first read fills the addresses the initial routes are made of; later ones report moves.
    await this.poll();
    this.changed = changed;
    this.timer = setInterval(() => void this.poll(), SLOW_MS);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  addresses(dep: DeploymentView, service?: string): string[] | null {
    if (!dep.swarm) return null;
    return this.addrs.get(addrKey(dep.name, service)) ?? [];
  }

  /** Reads every swarm deployment's routed tasks; an app whose addresses moved is told to `changed`. */
  private async poll(): Promise<void> {
    if (this.polling) return;
    this.polling = true;
    try {
      for (const app of Object.values(this.d.store.read().apps)) {
        for (const dep of Object.values(app.deployments)) {
          for (const [service, name] of routedServices(dep)) {
            const tasks = await this.d.runtime.serviceTasks(name, this.network).catch((err) => {
              this.d.log.warn({ service: name, err: oneLine(err) }, 'could not read the tasks');
              return null;
            });
            if (!tasks) continue;
            if (this.remember(app.name, dep.name, routableAddrs(tasks), service)) this.changed(app.name);
          }
        }
      }
    } finally {
      this.polling = false;
    }
  }

  switchTo(d: PipelineDeps, spec: SwitchSpec, out: Out, lap?: (stage: string) => void): Promise<Switched> {
    return swarmSwitch(d, this, spec, out, lap ?? (() => undefined));
  }

  async instances(d: InstanceDeps, app: AppView): Promise<Instance[]> {
    const version = versionOf(app);
    const listed = await d.runtime.swarmNodes({}).catch(() => []);
    // Nodes are named by hostname; two of one name (machines cloned alike) by hostname/id.
    const named = (n: { id: string; hostname: string }) =>
      listed.filter((m) => m.hostname === n.hostname).length > 1
        ? `${n.hostname}/${n.id.slice(0, 12)}`
        : n.hostname;
    const nodes = new Map(listed.map((n) => [n.id, named(n)]));
    const out: Instance[] = [];
    for (const dep of Object.values(app.deployments)) {
      for (const [type, name] of Object.entries(dep.swarm?.services ?? {})) {
        const tasks = await d.runtime.serviceTasks(name, this.network);
        for (const t of tasks.filter((x) => x.desired === 'running')) {
          const node = nodes.get(t.nodeId) ?? t.nodeId.slice(0, 12);
          const routeId = t.labels['goku.release'] ?? '';
          out.push({
            deployment: dep.name,
            process: type,
            name: `${name}.${t.slot}`,
            id: (t.containerId ?? t.id).slice(0, 12),
            state: t.state,
            status: `${t.state} on ${node}${t.err ? `: ${t.err}` : ''}`,
            release: version(routeId),
            routeId,
            commit: dep.commit.slice(0, 7),
            created: t.createdAt,
            node,
          });
        }
      }
    }
    // One-off containers (goku run --detach) run here, beside the tasks.
    const local = await this.local.instances(d, app);
    return [...out, ...local].sort((a, b) => (a.name < b.name ? -1 : 1));
  }

  async logs(
    d: InstanceDeps,
    running: Instance[],
    opts: LogOptions,
    onLine: (line: string) => void,
  ): Promise<void> {
    const tasks = running.filter((i) => i.node !== undefined);
    const services = [
      ...new Set(tasks.map((i) => serviceName(d.settings.GOKU_CONTAINER_PREFIX, i.deployment, i.process))),
    ];
    const local = running.filter((i) => i.node === undefined);
    const prefix = services.length + local.length > 1;
    // Docker's service logs: every task's, from every node, through the manager.
    await Promise.all([
      ...services.map((name) =>
        d.runtime.serviceLogs(name, opts, (line) => onLine(prefix ? `${name}: ${line}` : line)),
      ),
      ...(local.length ? [this.local.logs(d, local, opts, onLine)] : []),
    ]);
  }

  async stopApp(d: InstanceDeps, app: string, out: Out): Promise<number> {
    let n = await this.local.stopApp(d, app, out);
    for (const dep of Object.values(this.d.store.read().apps[app]?.deployments ?? {})) {
      for (const name of Object.values(dep.swarm?.services ?? {})) {
        const running = (await d.runtime.serviceTasks(name, this.network)).filter(
          (t) => t.desired === 'running',
        );
        out(`-----> Stopping ${name} (${running.length} task${running.length === 1 ? '' : 's'})`);
        await d.runtime.scaleService(name, 0);
        n += running.length;
      }
    }
    return n;
  }

  async startApp(d: InstanceDeps, app: AppView, out: Out): Promise<number> {
    let n = 0;
    for (const dep of Object.values(app.deployments)) {
      for (const [type, name] of Object.entries(dep.swarm?.services ?? {})) {
        const want = dep.swarm?.replicas?.[type] ?? 1;
        out(`-----> Starting ${name} (${want} task${want === 1 ? '' : 's'})`);
        await d.runtime.scaleService(name, want);
        n += want;
      }
    }
    if (n === 0)
      throw new GokuError(
        'GOKU_ERR_NOT_DEPLOYED',
        `app ${app.name} has no services to start; push it (or ps:scale ${app.name} 1 if it is scaled to zero)`,
      );
    return n;
  }

  switchCompose(d: PipelineDeps, spec: ComposeSpec, out: Out): Promise<Switched> {
    return swarmComposeSwitch(d, this, spec, out);
  }

  async removeDeployment(d: PipelineDeps, app: string, deployment: string, out: Out): Promise<void> {
    const dep = appView(d, app).deployments[deployment];
    const names = Object.values(dep?.swarm?.services ?? {});
    for (const name of names) await d.runtime.removeService(name);
    // Their containers here hold the named volumes apps:destroy removes, and the overlays.
    for (const name of names) await d.runtime.serviceGone(name, (d.settings.GOKU_STOP_GRACE + 15) * 1000);
    for (const key of [...this.addrs.keys()])
      if (key === deployment || key.startsWith(`${deployment}/`)) this.addrs.delete(key);
    // Its overlays carry the deployment's labels: they go with its other networks there.
    await removeDeployment(d, app, deployment, out);
  }

  /** The image every node can pull: pushed to GOKU_REGISTRY, else this node's own (and only here). */
  async serviceImage(
    d: PipelineDeps,
    spec: SwitchSpec,
  ): Promise<{ image: string; constraints: string[]; auth: PullAuth | null }> {
    const prefix = d.settings.GOKU_REGISTRY;
    if (!prefix) return { image: spec.image, constraints: [`node.id==${this.nodeId}`], auth: null };
    const repo = `${prefix}/${spec.deployment}`;
    const tag = spec.image.slice(spec.image.lastIndexOf(':') + 1);
    const auth = registryAuth(d, repo);
    // Pushed already when it was built; a second push of the same layers only asks the registry.
    const digest = await d.runtime.pushImage(spec.image, repo, tag, auth);
    return { image: `${repo}:${tag}@${digest}`, constraints: [], auth };
  }

  /**
   * The routed tasks' addresses as last seen (a deployment's web tasks, or a compose service's);
   * a change goes into the deployment's record too, for the gokus of the other nodes (they
   * cannot list tasks: a worker's engine refuses). True: changed.
   */
  remember(app: string, deployment: string, addrs: string[], service?: string): boolean {
    const key = addrKey(deployment, service);
    if (JSON.stringify(addrs) === JSON.stringify(this.addrs.get(key))) return false;
    this.addrs.set(key, addrs);
    void this.d.store
      .update((s) => {
        const sw = s.apps[app]?.deployments[deployment]?.swarm;
        if (!sw) return;
        if (service === undefined) {
          if (JSON.stringify(sw.addrs) !== JSON.stringify(addrs)) sw.addrs = addrs;
        } else if (JSON.stringify(sw.routed?.[service]) !== JSON.stringify(addrs)) {
          sw.routed = { ...(sw.routed ?? {}), [service]: addrs };
        }
      })
      .catch((err) => this.d.log.warn({ app, err: oneLine(err) }, 'could not record the task addresses'));
    return true;
  }
}

/** Where the addresses of a deployment's web tasks, or of a compose service's, are kept. */
function addrKey(deployment: string, service?: string): string {
  return service === undefined ? deployment : `${deployment}/${service}`;
}

/**
 * The services of a deployment whose tasks nginx routes to, as [compose service, Swarm
 * service]: a deployment's web (no compose service), or each routed service of a compose one.
 */
function routedServices(dep: DeploymentView): [string | undefined, string][] {
  if (!dep.swarm) return [];
  if (!dep.compose) return dep.swarm.services.web ? [[undefined, dep.swarm.services.web]] : [];
  return Object.entries(dep.compose.services).flatMap(([svc, r]) =>
    r.port && r.service ? [[svc, r.service] as [string, string]] : [],
  );
}

/** One process type's service in a switch: its spec and whether it existed before. */
export interface Part {
  type: string;
  spec: ServiceSpec;
  existed: boolean;
}

async function swarmSwitch(
  d: PipelineDeps,
  sched: SwarmScheduler,
  asked: SwitchSpec,
  out: Out,
  lap: (stage: string) => void,
): Promise<Switched> {
  const appRec = appView(d, asked.app);
  const { spec, count, env, workers } = await planSwitch(d, asked, appRec, out);
  const attempt = newAttempt(d, spec, appRec);
  const previousRecord = attempt.previousRecord;
  await spec.ready;
  const img = await sched.serviceImage(d, spec);
  // A scale of what runs keeps the tasks' release: Swarm then only adds or removes tasks.
  const before = previousRecord?.swarm;
  const onlyScale =
    !!asked.scale &&
    !!before &&
    before.image === img.image &&
    previousRecord?.image === spec.image &&
    JSON.stringify(previousRecord?.procfile ?? null) === JSON.stringify(spec.procfile ?? null) &&
    asked.env === undefined;
  const tasks = onlyScale && before ? before.tasks : spec.release;
  const types: [string, number][] = [...(spec.port ? [['web', count] as [string, number]] : []), ...workers];
  const parts: Part[] = [];
  for (const [type, n] of types) {
    const name = serviceName(d.settings.GOKU_CONTAINER_PREFIX, spec.deployment, type);
    const current = await d.runtime.inspectService(name);
    parts.push({
      type,
      existed: !!current,
      spec: serviceSpec(d, sched, spec, {
        type,
        replicas: n,
        env,
        tasks,
        img,
        force: (current?.forceUpdate ?? 0) + (onlyScale ? 0 : 1),
      }),
    });
  }
  out(
    `-----> Updating Swarm service${parts.length === 1 ? '' : 's'} ${parts.map((p) => `${p.spec.name} (${p.spec.replicas})`).join(', ')}${onlyScale ? '' : ': start-first'}`,
  );
  const made: Part[] = [];
  try {
    for (const p of parts) {
      if (p.existed) await d.runtime.updateService(p.spec.name, p.spec, img.auth);
      else await d.runtime.createService(p.spec, img.auth);
      made.push(p);
    }
    lap('start');
    const web = parts.find((p) => p.type === 'web');
    // Meanwhile nginx follows the tasks that run, the old and the new: none is cut off.
    const follow =
      web && attempt.previous
        ? followTasks(d, sched, {
            app: spec.app,
            deployment: spec.deployment,
            key: spec.deployment,
            service: web.spec.name,
            port: spec.port ?? DEFAULT_WEB_PORT,
            previous: attempt.previous,
            moved: () => {
              attempt.switched = true;
            },
          })
        : null;
    try {
      await Promise.all(parts.map((p) => converge(d, sched, p, tasks, out)));
    } finally {
      follow?.stop();
    }
    if (spec.abandoned?.()) {
      throw new GokuError(
        'GOKU_ERR_PUSH_REJECTED',
        'the pusher went away before the deploy finished, so git cannot land the push; nothing was switched',
      );
    }
    const ips = web ? routableAddrs(await d.runtime.serviceTasks(web.spec.name, sched.network), tasks) : [];
    await routeTo(d, spec, appRec, ips, attempt, out);
    lap('switch');
    const record: SwarmRecord = {
      services: Object.fromEntries(parts.map((p) => [p.type, p.spec.name])),
      tasks,
      image: img.image,
      replicas: Object.fromEntries(parts.map((p) => [p.type, p.spec.replicas])),
      addrs: ips,
    };
    await recordDeployment(d, spec, attempt, spec.exposedPort, { swarm: record });
    if (web) sched.remember(spec.app, spec.deployment, ips);
    lap('route');
  } catch (err) {
    await undo(d, made, attempt, spec, out);
    throw err;
  }
  const kept = new Set(parts.map((p) => p.spec.name));
  return {
    port: count > 0 ? spec.port : null,
    tail: async () => {
      await d.routes.drained();
      // Types no longer run (scaled to 0, gone from the Procfile), and a renamed deployment's.
      // (A renamed deployment's record came over with the old app's services in it.)
      const gone = Object.values(before?.services ?? {}).filter((n) => !kept.has(n));
      for (const n of gone) await d.runtime.removeService(n).catch(() => undefined);
      // Containers of the deployment from before GOKU_SCHEDULER=swarm (tasks are not goku.home's).
      await retireOthers(d, spec.app, spec.deployment, []);
      if (spec.replaces) await retireOthers(d, spec.replaces.app, spec.replaces.deployment, []);
      await pruneImages(d, spec.app, spec.deployment, spec.image);
    },
    revert: async () => {
      await restoreRoute(d, spec, attempt.previous);
      await restoreRecord(d, spec.app, spec.deployment, attempt.previousRecord);
      await undo(d, made, attempt, spec, () => undefined);
    },
  };
}

/** The service of one process type: the image, env with PORT, command, goku's labels, checks. */
function serviceSpec(
  d: PipelineDeps,
  sched: SwarmScheduler,
  spec: Planned,
  o: {
    type: string;
    replicas: number;
    env: Record<string, string>;
    tasks: string;
    img: { image: string; constraints: string[] };
    force: number;
  },
): ServiceSpec {
  const runEnv = { ...o.env, PORT: String(spec.port ?? DEFAULT_WEB_PORT) };
  const command = spec.procfile?.[o.type];
  const checked = o.type === 'web' && !spec.uncheckedTypes.includes('web');
  const healthcheck = checked ? serviceHealthcheck(spec.check, spec.port) : undefined;
  return {
    name: serviceName(d.settings.GOKU_CONTAINER_PREFIX, spec.deployment, o.type),
    image: o.img.image,
    env: runEnv,
    labels: {
      ...labels(d, spec.app, spec.deployment),
      'goku.process': o.type,
      'goku.release': spec.release,
      'goku.branch': spec.branch,
      'goku.commit': spec.commit,
    },
    containerLabels: {
      'goku.swarm': d.homeLabel,
      'goku.app': spec.app,
      'goku.process': o.type,
      'goku.release': o.tasks,
    },
    ...(command ? { cmd: commandArgv(command, runEnv) } : {}),
    replicas: o.replicas,
    networks: [{ name: sched.network, aliases: [] }],
    ...(healthcheck ? { healthcheck } : {}),
    monitorSeconds: Math.max(1, Math.ceil(d.settings.GOKU_CHECK_UPTIME)),
    stopGraceSeconds: d.settings.GOKU_STOP_GRACE,
    constraints: o.img.constraints,
    forceUpdate: o.force,
  };
}

/**
 * While Swarm replaces a service's tasks, nginx is sent to every task of it that runs (the
 * previous route's release stays, so a switch is still confirmed by its own header).
 */
export function followTasks(
  d: PipelineDeps,
  sched: SwarmScheduler,
  f: {
    app: string;
    deployment: string;
    /** The route's key (the deployment, or DEPLOYMENT/SERVICE of a compose service). */
    key: string;
    /** The Swarm service, and the compose service it runs (none: the deployment's web). */
    service: string;
    composeService?: string;
    port: number;
    previous: Route;
    /** Told when nginx was first sent elsewhere (a failure must put the route back). */
    moved: () => void;
  },
): { stop: () => void } {
  let stopped = false;
  let last = JSON.stringify(f.previous.upstreams);
  void (async () => {
    while (!stopped) {
      try {
        const ips = routableAddrs(await d.runtime.serviceTasks(f.service, sched.network));
        const upstreams = ips.map((ip) => `${ip}:${f.port}`);
        if (!stopped && ips.length && JSON.stringify(upstreams) !== last) {
          last = JSON.stringify(upstreams);
          const cur = d.routes.get(f.key) ?? f.previous;
          await d.routes.change([{ ...cur, upstreams }]);
          f.moved();
          sched.remember(f.app, f.deployment, ips, f.composeService);
        }
      } catch (err) {
        d.log.warn({ app: f.app, err: oneLine(err) }, 'could not follow the tasks');
      }
      await sleep(FAST_MS);
    }
  })();
  return {
    stop: () => {
      stopped = true;
    },
  };
}

/**
 * Waits until a service runs its replicas of this release (each task running, and healthy
 * when it has a check) and Swarm says the update completed; a failed update (Swarm rolls it
 * back) or tasks that keep failing throw with the task's own error.
 */
export async function converge(
  d: PipelineDeps,
  sched: SwarmScheduler,
  p: Part,
  release: string,
  out: Out,
): Promise<void> {
  const deadline = Date.now() + (d.settings.GOKU_DEPLOY_TIMEOUT + p.spec.monitorSeconds) * 1000;
  const name = p.spec.name;
  let said = 0;
  for (;;) {
    const [svc, tasks] = await Promise.all([
      d.runtime.inspectService(name),
      d.runtime.serviceTasks(name, sched.network),
    ]);
    if (!svc) throw new GokuError('GOKU_ERR_CLUSTER', `the service ${name} went away during the deploy`);
    const mine = tasks.filter((t) => t.labels['goku.release'] === release);
    const failed = mine.filter((t) => ['failed', 'rejected'].includes(t.state));
    const state = svc.updateState;
    if (state && /^rollback|^paused$/.test(state)) {
      throw new GokuError(
        'GOKU_ERR_CONTAINER_EXITED',
        `${p.type}: Swarm rolled the update back: ${failureOf(svc.updateMessage, failed)}`,
      );
    }
    // A new service has no update to roll back: a task failing again and again is its failure.
    if (!p.existed && (failed.length >= 3 || failed.some((t) => t.state === 'rejected'))) {
      throw new GokuError('GOKU_ERR_CONTAINER_EXITED', `${p.type}: ${failureOf(null, failed)}`);
    }
    const running = mine.filter((t) => t.desired === 'running' && t.state === 'running');
    const others = tasks.filter((t) => t.desired === 'running' && t.labels['goku.release'] !== release);
    const updating = state === 'updating';
    if (running.length === p.spec.replicas && others.length === 0 && !updating) {
      if (p.spec.replicas > 0)
        out(
          `       ${p.type}: ${running.length} task${running.length === 1 ? '' : 's'} running (${nodesOf(running)})`,
        );
      return;
    }
    if (Date.now() > deadline) {
      throw new GokuError(
        'GOKU_ERR_HEALTH_TIMEOUT',
        `${p.type}: ${running.length} of ${p.spec.replicas} tasks running after ${d.settings.GOKU_DEPLOY_TIMEOUT} s (GOKU_DEPLOY_TIMEOUT)${failed.length ? `: ${failureOf(null, failed)}` : ''}`,
      );
    }
    if (failed.length > said) {
      said = failed.length;
      out(`       ${p.type}: a task failed (${failureOf(null, failed)}); Swarm tries again`);
    }
    await sleep(FAST_MS);
  }
}

export function failureOf(message: string | null, failed: SwarmTask[]): string {
  const last = [...failed].sort((a, b) => (a.createdAt < b.createdAt ? 1 : -1))[0];
  const why = last?.err ?? message ?? 'no reason given';
  return /health/i.test(why) ? `${why} (the app's checks run inside the task with its wget or curl)` : why;
}

function nodesOf(tasks: SwarmTask[]): string {
  const n = new Set(tasks.map((t) => t.nodeId)).size;
  return `on ${n} node${n === 1 ? '' : 's'}`;
}

/** A failed or reverted switch: created services go, updated ones go back to their previous spec. */
async function undo(d: PipelineDeps, made: Part[], attempt: Attempt, spec: Planned, out: Out): Promise<void> {
  if (attempt.switched) {
    await restoreRoute(d, spec, attempt.previous).catch((e) =>
      d.log.error({ err: oneLine(e) }, 'could not restore route'),
    );
  }
  await undoServices(d, made, out);
}

/** Created services go, updated ones go back to their previous spec (the last changed first). */
export async function undoServices(d: PipelineDeps, made: Part[], out: Out): Promise<void> {
  for (const p of [...made].reverse()) {
    try {
      if (!p.existed) await d.runtime.removeService(p.spec.name);
      else {
        const svc = await d.runtime.inspectService(p.spec.name);
        // Swarm rolls a failed update back itself; one still running (a timeout) is rolled back here.
        if (svc && !/^rollback/.test(svc.updateState ?? '')) await d.runtime.rollbackService(p.spec.name);
      }
    } catch (err) {
      d.log.warn({ service: p.spec.name, err: oneLine(err) }, 'could not undo the service change');
      out(`       could not undo the change of ${p.spec.name}: ${oneLine(err)}`);
    }
  }
}

/**
 * The goku of a swarm worker (GOKU_SCHEDULER=swarm with the shared store): it serves every app
 * of the cluster, its routes nginx on the overlay sent to the task addresses the manager's goku
 * records, and leaves every change to that goku: deploys and what runs are refused with its
 * address (a worker's engine cannot list or change services).
 */
export class SwarmFollower implements Scheduler {
  readonly udp = false;
  private timer: NodeJS.Timeout | null = null;
  private seen = new Map<string, string>();

  constructor(
    private readonly d: Pick<PipelineDeps, 'store'>,
    /** Where the managers are (HOST:PORT of their swarm endpoints), for the refusal. */
    private readonly managers: string[],
  ) {}

  assertDeploys(): void {
    this.refuse();
  }

  private refuse(): never {
    const at = this.managers.map((m) => m.replace(/:\d+$/, '')).join(' or ') || 'the swarm manager';
    throw new GokuError(
      'GOKU_ERR_CLUSTER',
      `this goku runs on a swarm worker: deploys and changes of what runs happen on the goku of the manager (${at}); push and run the command there`,
    );
  }

  async start(changed: (app: string) => void): Promise<void> {
    this.seen = this.snapshot();
    // The store follows Consul by blocking queries; nginx follows the records within moments.
    this.timer = setInterval(() => {
      const now = this.snapshot();
      for (const [app, addrs] of now) if (this.seen.get(app) !== addrs) changed(app);
      for (const app of this.seen.keys()) if (!now.has(app)) changed(app);
      this.seen = now;
    }, 300);
    this.timer.unref();
  }

  /** Each app's recorded task addresses, as one string per app. */
  private snapshot(): Map<string, string> {
    const out = new Map<string, string>();
    for (const app of Object.values(this.d.store.read().apps)) {
      out.set(
        app.name,
        JSON.stringify([
          ...Object.values(app.deployments).map((dep) => [
            dep.name,
            dep.release,
            dep.swarm?.addrs ?? [],
            dep.swarm?.routed ?? {},
          ]),
          // HTTPS changes too (certificates, redirects): the server renders and links them.
          app.tls ?? null,
          Object.keys(app.certBundles ?? {}),
        ]),
      );
    }
    return out;
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  addresses(dep: DeploymentView, service?: string): string[] | null {
    if (!dep.swarm) return null;
    return [...((service === undefined ? dep.swarm.addrs : dep.swarm.routed?.[service]) ?? [])];
  }

  async switchTo(): Promise<Switched> {
    return this.refuse();
  }

  async switchCompose(): Promise<Switched> {
    return this.refuse();
  }

  async removeDeployment(): Promise<void> {
    this.refuse();
  }

  async instances(): Promise<Instance[]> {
    return this.refuse();
  }

  async logs(): Promise<void> {
    this.refuse();
  }

  async stopApp(): Promise<number> {
    return this.refuse();
  }

  async startApp(): Promise<number> {
    return this.refuse();
  }
}
