import { setTimeout as sleep } from 'node:timers/promises';
import { composeLabels } from '../core/compose/plan.js';
import { composeOverlay, routableAddrs, serviceName } from '../core/swarm.js';
import { GokuError, oneLine } from '../errors.js';
import type { PullAuth, ServiceSpec } from '../runtime/types.js';
import { registryAuth } from '../sources/image.js';
import type { SwarmRecord } from '../store/types.js';
import {
  type Attempt,
  type ComposeSpec,
  ensureObjects,
  networksOf,
  newAttempt,
  planCompose,
  pruneBinds,
  pruneComposeImages,
  pruneNetworks,
  recordCompose,
  restoreRoutes,
  routeServices,
  type Svc,
} from './compose.js';
import { appView, labels, type Out, type PipelineDeps, restoreRecord } from './context.js';
import { retireOthers } from './retire.js';
import { composeRouteKey } from './routing.js';
import { converge, failureOf, followTasks, type Part, type SwarmScheduler, undoServices } from './swarm.js';
import type { Switched } from './switch.js';

/** How often a one-shot's task is read while the switch waits for it to finish. */
const JOB_POLL_MS = 200;

/** What a Swarm compose attempt made, so that a failure or a revert takes exactly that back. */
interface SwarmAttempt extends Attempt {
  made: Part[];
  /** One-shot services (replicated jobs) this attempt ran: they go in the tail or the undo. */
  jobs: string[];
}

/**
 * A compose deployment as Swarm services (GOKU_SCHEDULER=swarm): one service per compose
 * service, on an attachable overlay per compose network (its other services reach it by its
 * name, as with Compose), routed ones on goku's overlay too. Changed services are updated in
 * start order, each converged before the next: routed stateless ones start-first, ones with
 * named volumes or no route stop-first; a one-shot (service_completed_successfully) runs as
 * a replicated job that must exit 0. Services with named volumes or bind mounts stay on this
 * node (their data is here), as do all without GOKU_REGISTRY (their images are only here).
 * Then nginx switches every routed service at once and confirms through itself.
 */
export async function swarmComposeSwitch(
  d: PipelineDeps,
  sched: SwarmScheduler,
  spec: ComposeSpec,
  out: Out,
): Promise<Switched> {
  const appRec = appView(d, spec.app);
  const before = appRec.deployments[spec.deployment];
  const svcs = await planCompose(d, spec, appRec, out, async (rec, count) => {
    // A one-shot runs again with every deploy, as on one machine (and as `docker compose up`).
    if (rec.oneShot) return false;
    if (!rec.service) return false; // containers from before GOKU_SCHEDULER=swarm
    const svc = await d.runtime.inspectService(rec.service);
    // ps:stop scales services to 0 (and a deploy starts them again); ps:scale changes the count.
    return !!svc && svc.replicas === count;
  });
  const attempt: SwarmAttempt = { ...newAttempt(appRec, spec), made: [], jobs: [] };
  const name = (v: Svc) => serviceName(d.settings.GOKU_CONTAINER_PREFIX, spec.deployment, v.s.name);
  try {
    // Each compose network as an attachable overlay; named volumes here, as on one machine.
    await ensureObjects(d, spec, svcs, (n, l) => d.runtime.ensureOverlay(composeOverlay(n), l));
    for (const v of svcs) {
      if (!v.changed) continue;
      const img = await taskImage(d, spec, v);
      const ss = serviceSpecOf(d, sched, spec, v, name(v), img);
      if (v.oneShot) await runJob(d, v, ss, img.auth, attempt, out);
      else await replaceService(d, sched, spec, v, ss, img.auth, attempt, out);
    }
    if (spec.abandoned?.()) {
      throw new GokuError(
        'GOKU_ERR_PUSH_REJECTED',
        'the pusher went away before the deploy finished, so git cannot land the push; nothing was switched',
      );
    }
    const addrs = new Map<string, string[]>();
    await routeServices(d, spec, appRec, svcs, attempt, out, false, async (v) => {
      const tasks = await d.runtime.serviceTasks(name(v), sched.network);
      const ips = routableAddrs(tasks, v.changed ? spec.release : undefined);
      addrs.set(v.s.name, ips);
      return ips;
    });
    const live = svcs.filter((v) => !v.oneShot);
    const web = live.find((v) => v.web);
    const record: SwarmRecord = {
      services: Object.fromEntries(live.map((v) => [v.s.name, name(v)])),
      tasks: spec.release,
      image: web?.image.image ?? '',
      replicas: Object.fromEntries(live.map((v) => [v.s.name, v.s.replicas])),
      routed: Object.fromEntries([...addrs]),
    };
    await recordCompose(d, spec, svcs, attempt, record);
    for (const [svc, ips] of addrs) sched.remember(spec.app, spec.deployment, ips, svc);
  } catch (err) {
    await undo(d, spec, attempt, out);
    throw err;
  }
  const web = svcs.find((v) => v.web && v.plan.route);
  return {
    port: web?.plan.route?.port ?? null,
    tail: async () => {
      await d.routes.drained();
      const kept = new Set(svcs.filter((v) => !v.oneShot).map(name));
      // Services gone from the file, and the process types of a Dockerfile deployment before it.
      for (const n of Object.values(before?.swarm?.services ?? {}))
        if (!kept.has(n)) await d.runtime.removeService(n).catch(() => undefined);
      for (const n of attempt.jobs) await d.runtime.removeService(n).catch(() => undefined);
      // Containers of the deployment from before GOKU_SCHEDULER=swarm (tasks are not goku.home's).
      await retireOthers(d, spec.app, spec.deployment, []);
      await pruneComposeImages(d, spec.app, spec.deployment);
      await pruneNetworks(d, spec, networksOf(svcs, composeOverlay));
      await pruneBinds(d, spec.app);
    },
    revert: async () => {
      await restoreRoutes(d, attempt);
      await restoreRecord(d, spec.app, spec.deployment, attempt.previousRecord);
      await undo(d, spec, attempt, () => undefined);
    },
  };
}

/**
 * The image a service's tasks run: with GOKU_REGISTRY, by digest from there (a build was
 * pushed when it was built; an `image:` is pushed there now, so every node runs the same
 * bytes); without, the image here, and the service stays on this node.
 */
async function taskImage(
  d: PipelineDeps,
  spec: ComposeSpec,
  v: Svc,
): Promise<{ image: string; auth: PullAuth | null; here: boolean }> {
  const prefix = d.settings.GOKU_REGISTRY;
  if (!prefix) return { image: v.image.image, auth: null, here: true };
  const repo = v.image.registry ?? `${prefix}/${spec.deployment}.${v.s.name}`;
  const auth = registryAuth(d, repo);
  const tag = v.image.built
    ? v.image.image.slice(v.image.image.lastIndexOf(':') + 1)
    : `id-${v.image.imageId.replace(/^sha256:/, '').slice(0, 12)}`;
  const digest =
    v.image.registry && v.image.digest
      ? v.image.digest
      : await d.runtime.pushImage(v.image.image, repo, tag, auth);
  return { image: `${repo}:${tag}@${digest}`, auth, here: false };
}

/** One compose service as a Swarm service: its run, goku's labels, its overlays, where it may run. */
function serviceSpecOf(
  d: PipelineDeps,
  sched: SwarmScheduler,
  spec: ComposeSpec,
  v: Svc,
  name: string,
  img: { image: string; here: boolean },
): ServiceSpec {
  const { s, run } = v;
  // Named volumes and bind mounts are this node's: their services run here, as on one machine.
  const data = run.mounts.some((m) => m.type === 'bind' || (m.type === 'volume' && m.source));
  return {
    name,
    image: img.image,
    env: run.env,
    labels: {
      ...labels(d, spec.app, spec.deployment),
      'goku.process': s.name,
      'goku.release': spec.release,
      'goku.branch': spec.branch,
      'goku.commit': spec.commit,
    },
    containerLabels: {
      ...s.labels,
      ...composeLabels(spec.deployment, s.name, 1, v.digest),
      'goku.swarm': d.homeLabel,
      'goku.app': spec.app,
      'goku.process': s.name,
      'goku.release': spec.release,
    },
    ...(run.cmd ? { cmd: run.cmd } : {}),
    ...(run.entrypoint ? { entrypoint: run.entrypoint } : {}),
    ...(run.workingDir ? { workingDir: run.workingDir } : {}),
    ...(run.user ? { user: run.user } : {}),
    mounts: run.mounts,
    options: run.options,
    replicas: s.replicas,
    networks: [
      ...run.networks.map((n) => ({ name: composeOverlay(n.name), aliases: n.aliases })),
      // nginx reaches routed services on goku's overlay (no alias: names there are every app's).
      ...(v.plan.route ? [{ name: sched.network, aliases: [] }] : []),
    ],
    ...(run.healthcheck ? { healthcheck: run.healthcheck } : {}),
    monitorSeconds: Math.max(1, Math.ceil(d.settings.GOKU_CHECK_UPTIME)),
    stopGraceSeconds: run.stopGrace ?? d.settings.GOKU_STOP_GRACE,
    constraints: img.here || data ? [sched.here] : [],
    forceUpdate: 0,
    order: v.plan.replacement === 'in-place' ? 'stop-first' : 'start-first',
    restart: run.restart,
    ...(v.oneShot ? { job: true } : {}),
  };
}

/**
 * Updates (or creates) a service and waits until its tasks of this release run; meanwhile
 * nginx follows the tasks that run, the old and the new, of a routed service.
 */
async function replaceService(
  d: PipelineDeps,
  sched: SwarmScheduler,
  spec: ComposeSpec,
  v: Svc,
  ss: ServiceSpec,
  auth: PullAuth | null,
  attempt: SwarmAttempt,
  out: Out,
): Promise<void> {
  let current = await d.runtime.inspectService(ss.name);
  // A one-shot before (a job) cannot become a replicated service by an update.
  if (current && v.prev?.oneShot) {
    await d.runtime.removeService(ss.name);
    current = null;
  }
  // Moving from containers (before GOKU_SCHEDULER=swarm): a stateful service's old ones stop
  // first, as on one machine (two copies must not share a database's files).
  if (!current && ss.order === 'stop-first' && v.prev?.containerIds.length) {
    out(`-----> Stopping ${v.s.name}'s containers first (it has named volumes or no route)`);
    attempt.stopped.push(...v.prev.containerIds);
    for (const id of v.prev.containerIds)
      await d.runtime.stopContainer(id, ss.stopGraceSeconds).catch(() => undefined);
  }
  // ps:restart SERVICE: the tasks are replaced although nothing else changed.
  const part: Part = {
    type: v.s.name,
    spec: { ...ss, forceUpdate: (current?.forceUpdate ?? 0) + 1 },
    existed: !!current,
  };
  out(
    `-----> ${current ? 'Updating' : 'Creating'} Swarm service ${ss.name} (${ss.replicas})${ss.order === 'stop-first' ? ': stop-first (it has named volumes or no route)' : ': start-first'}`,
  );
  if (current) await d.runtime.updateService(ss.name, part.spec, auth);
  else await d.runtime.createService(part.spec, auth);
  attempt.made.push(part);
  const key = composeRouteKey(spec.deployment, v.s.name, v.web);
  const previous = d.routes.get(key);
  let follow: { stop: () => void } | null = null;
  if (v.plan.route && current && previous) {
    if (!attempt.previousRoutes.has(key)) attempt.previousRoutes.set(key, previous);
    follow = followTasks(d, sched, {
      app: spec.app,
      deployment: spec.deployment,
      key,
      service: ss.name,
      composeService: v.s.name,
      port: v.plan.route.port,
      previous,
      moved: () => {
        attempt.switched = true;
      },
    });
  }
  try {
    await converge(d, sched, part, spec.release, out);
  } finally {
    follow?.stop();
  }
}

/** A one-shot service as a replicated job: its task must exit 0 within GOKU_DEPLOY_TIMEOUT. */
async function runJob(
  d: PipelineDeps,
  v: Svc,
  ss: ServiceSpec,
  auth: PullAuth | null,
  attempt: SwarmAttempt,
  out: Out,
): Promise<void> {
  // The last run's job (or a service of the name from before) goes: a job runs once.
  await d.runtime.removeService(ss.name);
  out(`-----> Running ${v.s.name} once (a Swarm job; what depends on it waits for it to exit 0)`);
  await d.runtime.createService(ss, auth);
  attempt.jobs.push(ss.name);
  const deadline = Date.now() + d.settings.GOKU_DEPLOY_TIMEOUT * 1000;
  for (;;) {
    const tasks = await d.runtime.serviceTasks(ss.name, '');
    if (tasks.some((t) => t.state === 'complete')) {
      out(`       ${v.s.name} completed successfully`);
      return;
    }
    const failed = tasks.filter((t) => ['failed', 'rejected'].includes(t.state));
    if (failed.length) {
      await lastLines(d, ss.name, v.s.name, out);
      throw new GokuError(
        'GOKU_ERR_CONTAINER_EXITED',
        `${v.s.name} failed (${failureOf(null, failed)}); what depends on it (service_completed_successfully) was not started`,
      );
    }
    if (Date.now() > deadline) {
      throw new GokuError(
        'GOKU_ERR_HEALTH_TIMEOUT',
        `${v.s.name} did not finish within ${d.settings.GOKU_DEPLOY_TIMEOUT} s (GOKU_DEPLOY_TIMEOUT)`,
      );
    }
    await sleep(JOB_POLL_MS);
  }
}

/** The last lines a service's tasks wrote, for the pusher. */
async function lastLines(d: PipelineDeps, service: string, shown: string, out: Out): Promise<void> {
  const lines: string[] = [];
  await d.runtime
    .serviceLogs(service, { tail: 20, follow: false }, (l) => lines.push(l))
    .catch(() => undefined);
  if (!lines.length) return;
  out(`-----> Last lines of the ${shown} log:`);
  for (const l of lines) out(`       ${l}`);
}

/**
 * A failed or reverted attempt: routes as they were, created services and jobs gone, updated
 * ones back at their previous spec (Swarm rolls a failed update back itself), built images gone.
 */
async function undo(d: PipelineDeps, spec: ComposeSpec, attempt: SwarmAttempt, out: Out): Promise<void> {
  d.log.info({ app: spec.app, release: spec.release }, 'undoing a failed Swarm compose attempt');
  if (attempt.switched)
    await restoreRoutes(d, attempt).catch((e) =>
      d.log.error({ err: oneLine(e) }, 'could not restore routes'),
    );
  await undoServices(d, attempt.made, out);
  for (const n of attempt.jobs) await d.runtime.removeService(n).catch(() => undefined);
  for (const id of attempt.stopped)
    await d.runtime
      .startContainer(id)
      .catch((e) =>
        d.log.error({ app: spec.app, err: oneLine(e) }, 'could not start an old container again'),
      );
  if (!spec.ownsImages) return;
  for (const img of Object.values(spec.images)) {
    if (img.built) await d.runtime.removeImageTag(img.image).catch(() => undefined);
  }
}
