import type { AppScripts, HealthPlan, HttpCheck } from '../core/checks.js';
import { assertConfigSize, webPort } from '../core/config.js';
import { checksOff, commandArgv, DEFAULT_WEB_PORT, formationOf, type Procfile } from '../core/procfile.js';
import { makeRoute, type Route, remapRoute } from '../core/routes.js';
import { GokuError, oneLine } from '../errors.js';
import { type AppView, type DeploymentRecord, type DeploymentView, setScale, thaw } from '../store/types.js';
import {
  appView,
  containerName,
  domainsFor,
  labels,
  type Out,
  type PipelineDeps,
  restoreRecord,
} from './context.js';
import { assertNamesOurs, assertScale } from './guards.js';
import { awaitHealthy, type Healthy } from './health.js';
import { pruneImages, retireOthers } from './retire.js';
import { ownedRouteKeys } from './routing.js';

/** One new version of one deployment, ready to run: what every source and trigger hands the switch. */
export interface SwitchSpec {
  app: string;
  deployment: string;
  branch: string;
  commit: string;
  /** Image tag to run. */
  image: string;
  /** The image's HTTP port (its EXPOSE); a PORT in the env it runs with wins. */
  port: number | null;
  cname: string[];
  /** The routing id: container name suffix, image tag, X-Goku-Release. */
  release: string;
  /** The image was built for this attempt: remove it if the attempt fails. */
  ownsImage: boolean;
  /** Env to run with (a rollback's config); default: the app's current config. */
  env?: Record<string, string>;
  /** How the new container proves it is ready (default check, HEALTHCHECK, app.json). */
  health: HealthPlan;
  /** The Procfile of what runs (null: none; the image's CMD is web). */
  procfile: Readonly<Procfile> | null;
  /** app.json's formation of what runs, when it sets the counts. */
  appFormation: Readonly<Record<string, number>> | null;
  /** app.json's liveness checks (recorded: the liveness monitor probes the running containers). */
  liveness?: readonly HttpCheck[] | null;
  /** app.json's deployment tasks of what runs (recorded: a config change runs postdeploy again). */
  scripts?: Readonly<AppScripts>;
  /** Counts asked for by ps:scale (web, worker, ...), recorded as the app's when the switch succeeds. */
  scale?: Record<string, number>;
  /** Checked just before the switch: the change can no longer be kept (the pusher left). */
  abandoned?: () => boolean;
  /**
   * apps:rename: the deployment (of the app's old name) this one replaces. Its route goes in the
   * same nginx change that adds the new one, and its containers retire in the tail.
   */
  replaces?: { app: string; deployment: string };
  /** Work on the image still under way (an image app's commit): awaited before routing or an undo. */
  ready?: Promise<unknown>;
}

export interface Switched {
  /** The port the new containers were routed to (null: not routed). */
  port: number | null;
  /** Retires the old containers, names the new ones, prunes images (after the caller returns). */
  tail: () => Promise<void>;
  /** Before the tail only: gives the old containers their route back and removes the new ones. */
  revert: () => Promise<void>;
}

/** What one attempt made, so that a failure or a revert can take exactly that back. */
export interface Attempt {
  /** The web containers it started. */
  started: string[];
  /** The other process types' containers it started, by type. */
  workers: Record<string, string[]>;
  switched: boolean;
  /** Stop-first (schedule --downtime): the old containers this attempt stopped, with their addresses. */
  stopped: { id: string; ip: string | null }[];
  previous: Route | undefined;
  previousRecord: DeploymentView | undefined;
}

/**
 * The switch every change of a deployment goes through: start the new containers beside the
 * old ones, wait until they are healthy, point nginx at them and confirm through nginx, record
 * them. Any failure puts the old route back and removes what this attempt made.
 */
export async function switchTo(
  d: PipelineDeps,
  asked: SwitchSpec,
  out: Out,
  lap: (stage: string) => void = () => undefined,
): Promise<Switched> {
  const appRec = appView(d, asked.app);
  const { spec, count, env, workers, disabled } = await planSwitch(d, asked, appRec, out);
  const attempt = newAttempt(d, spec, appRec);
  // The new release takes traffic at its first good answer; the default check's uptime watch
  // runs after that, so new content is served a watch earlier. A release serving now stays in
  // nginx as the backup meanwhile, so a failure in the watch costs no request; with none (a
  // first deploy), a failure takes the route away again, as it was.
  const watched = spec.check.kind === 'default' && !!spec.port && d.settings.GOKU_CHECK_UPTIME > 0;
  // An app that may not run two copies (schedule --downtime) has its old containers stopped
  // before the new ones start: no backup then, and a failure starts the old ones again.
  // checks:disable does the same for the process types it names.
  const downtime = !!appRec.image?.schedule?.downtime;
  const stopFirst = (downtime || disabled.length > 0) && !!attempt.previousRecord;
  const webStops = stopFirst && (downtime || disabled.includes('web'));
  const run: Run = {
    spec,
    appRec,
    env,
    count,
    workers,
    attempt,
    backups: watched && !webStops ? (attempt.previous?.upstreams ?? []) : [],
    stop: stopFirst ? (downtime ? null : disabled) : undefined,
    webStops,
  };
  try {
    await runAttempt(d, run, out, lap);
  } catch (err) {
    // The image must be whole before an undo removes it (a commit landing after would leak it).
    await spec.ready?.catch(() => undefined);
    await undoAttempt(d, spec, attempt, out);
    throw err;
  }
  const made = { web: [...attempt.started], workers: { ...attempt.workers } };
  return {
    port: count > 0 ? spec.port : null,
    tail: () => settle(d, spec, made),
    revert: () => revertSwitch(d, spec, attempt),
  };
}

/** An attempt that made nothing yet, with what it would have to put back. */
export function newAttempt(d: PipelineDeps, spec: SwitchSpec, appRec: AppView): Attempt {
  return {
    started: [],
    workers: {},
    switched: false,
    stopped: [],
    previous: d.routes.get(spec.replaces?.deployment ?? spec.deployment),
    previousRecord: appRec.deployments[spec.deployment],
  };
}

/**
 * What a recorded deployment runs, as a switch spec's fields: a restart, a config change, a
 * scale, a rollback (which then puts its release's image and Procfile over them) and a rename
 * run it again.
 */
export function runningSpec(
  dep: DeploymentView,
): Pick<
  SwitchSpec,
  | 'branch'
  | 'commit'
  | 'image'
  | 'port'
  | 'cname'
  | 'health'
  | 'procfile'
  | 'appFormation'
  | 'scripts'
  | 'liveness'
> {
  return {
    branch: dep.branch,
    commit: dep.commit,
    image: dep.image,
    port: dep.exposedPort === undefined ? dep.port : dep.exposedPort,
    cname: [...dep.cnameDomains],
    health: dep.health ? thaw<HealthPlan>(dep.health) : { kind: 'default' },
    procfile: dep.procfile ? thaw<Procfile>(dep.procfile) : null,
    appFormation: dep.appFormation ? { ...dep.appFormation } : null,
    ...(dep.scripts ? { scripts: { ...dep.scripts } } : {}),
    ...(dep.liveness ? { liveness: thaw<HttpCheck[]>(dep.liveness) } : {}),
  };
}

/** A switch as planned: the spec with its port and checks, what to start, and how. */
export type Planned = SwitchSpec & {
  port: number | null;
  /** The image's own port (EXPOSE), recorded so that unsetting a config PORT goes back to it. */
  exposedPort: number | null;
  /** No EXPOSE and no PORT: Dokku's 5000 (a failed check says so). */
  impliedPort: boolean;
  /** The web check this switch runs (none under checks:skip). */
  check: HealthPlan;
  /** Process types whose new containers are not checked (checks:skip, checks:disable). */
  uncheckedTypes: string[];
};

interface Run {
  spec: Planned;
  appRec: AppView;
  env: Record<string, string>;
  count: number;
  workers: [string, number][];
  attempt: Attempt;
  backups: string[];
  /** Stop-first: the process types to stop before starting (null: all); undefined: none. */
  stop: string[] | null | undefined;
  webStops: boolean;
}

/**
 * What a switch will run: each process type's count (within GOKU_MAX_SCALE, each and in all),
 * the env, the web port (config PORT, EXPOSE, else Dokku's 5000), the checks in force, and
 * the container names free.
 */
export async function planSwitch(
  d: PipelineDeps,
  asked: SwitchSpec,
  appRec: AppView,
  out: Out,
): Promise<{
  spec: Planned;
  count: number;
  env: Record<string, string>;
  workers: [string, number][];
  disabled: string[];
}> {
  const counts = formationOf({
    procfile: asked.procfile,
    appFormation: asked.appFormation,
    scale: appRec.scale,
    formation: appRec.formation,
    ...(asked.scale ? { asked: asked.scale } : {}),
    isDefault: asked.deployment === asked.app,
  });
  assertFormation(d, asked.app, counts);
  const count = counts.web ?? 0;
  // The stored env may have been written by hand (Consul), past what Docker takes.
  const env = asked.env ?? appRec.env;
  assertConfigSize(env);
  // Without a web process (a Procfile that names none) nothing is routed.
  const named = webPort(env, asked.port);
  // checks:skip and checks:disable (Dokku's): no check for those types, and disabled ones stop first.
  const off = (type: string) => checksOff(appRec.checks, type);
  const spec: Planned = {
    ...asked,
    port: 'web' in counts ? (named ?? DEFAULT_WEB_PORT) : null,
    exposedPort: asked.port,
    impliedPort: 'web' in counts && named === null,
    check: off('web').skipped ? { kind: 'checks', checks: [] } : asked.health,
    uncheckedTypes: Object.keys(counts).filter((t) => off(t).skipped),
  };
  if (off('web').skipped && count > 0)
    out(
      `-----> Checks of web are ${off('web').disabled ? 'disabled' : 'skipped'} (checks:enable ${asked.app} turns them on)`,
    );
  const workers = Object.entries(counts).filter(([t, n]) => t !== 'web' && n > 0);
  // Dokku starts only web by default: say so, or a worker that never starts looks like a bug.
  const idle = Object.keys(counts).filter((t) => t !== 'web' && counts[t] === 0);
  if (idle.length && !asked.appFormation) {
    out(
      `-----> Not running ${idle.join(', ')}: scaled to 0 (as Dokku, only web runs until scaled: goku ps:scale ${asked.app} ${idle[0]}=1)`,
    );
  }
  await assertNamesOurs(d, spec.deployment, count);
  for (const [t, n] of workers) await assertNamesOurs(d, `${spec.deployment}-${t}`, n);
  return { spec, count, env, workers, disabled: Object.keys(counts).filter((t) => off(t).disabled) };
}

/**
 * Each type within GOKU_MAX_SCALE, and all of them together too: an app.json's formation comes
 * from whoever can push, and 30 types of 20 would be 600 containers.
 */
function assertFormation(d: PipelineDeps, app: string, counts: Record<string, number>): void {
  for (const n of Object.values(counts)) assertScale(d, app, n);
  const total = Object.values(counts).reduce((a, b) => a + b, 0);
  if (total > d.settings.GOKU_MAX_SCALE) {
    const each = Object.entries(counts)
      .map(([t, n]) => `${t}=${n}`)
      .join(' ');
    throw new GokuError(
      'GOKU_ERR_USAGE',
      `${app} would run ${total} containers in all (${each}), above GOKU_MAX_SCALE (${d.settings.GOKU_MAX_SCALE}); scale some down (or change app.json's formation)`,
    );
  }
}

/** The attempt itself: stop first if asked, start and check web, route, watch, start the other types, record. */
async function runAttempt(d: PipelineDeps, r: Run, out: Out, lap: (stage: string) => void): Promise<void> {
  const { spec, attempt, backups } = r;
  const downSince = Date.now();
  if (r.stop !== undefined) await stopOld(d, spec, attempt, out, r.stop);
  const healthy = await startInstances(d, spec, r.env, r.count, attempt, out, backups.length > 0);
  await spec.ready;
  const ips = healthy.map((h) => h.ip);
  lap('start');
  if (spec.abandoned?.()) {
    throw new GokuError(
      'GOKU_ERR_PUSH_REJECTED',
      'the pusher went away before the deploy finished, so git cannot land the push; nothing was switched',
    );
  }
  await routeTo(d, spec, r.appRec, ips, attempt, out, backups);
  lap('switch');
  if (r.webStops)
    out(`       ${spec.deployment} was down for ${((Date.now() - downSince) / 1000).toFixed(1)} s`);
  await Promise.all(healthy.map((h) => h.watch()));
  if (backups.length) await routeTo(d, spec, r.appRec, ips, attempt, () => undefined); // the backup goes
  // The other process types start once web is live (Dokku's order); the old ones run until the tail.
  await startWorkers(d, spec, r.env, r.workers, attempt, out);
  // Proven: from now on Docker restarts them if they exit, as every running release.
  await Promise.all(allStarted(attempt).map((id) => d.runtime.keepRunning(id)));
  await recordDeployment(d, spec, attempt, spec.exposedPort);
  lap('route');
}

/**
 * Stop-first: stops the running containers of the deployment (schedule --downtime: all of
 * them; checks:disable: those of the types it names), kept to start again on a failure.
 */
async function stopOld(
  d: PipelineDeps,
  spec: SwitchSpec,
  attempt: Attempt,
  out: Out,
  types: string[] | null,
): Promise<void> {
  const list = await d.runtime.listContainers(labels(d, spec.app, spec.deployment));
  const running = list.filter(
    (c) =>
      (c.state === 'running' || c.state === 'restarting') &&
      (types === null || types.includes(c.labels['goku.process'] ?? 'web')),
  );
  if (running.length === 0) return;
  out(
    types === null
      ? `-----> Stopping ${spec.deployment} first: it may not run two copies (schedule --downtime)`
      : `-----> Stopping ${types.join(', ')} of ${spec.deployment} first: its checks are disabled (checks:disable)`,
  );
  // Listed before stopping, so a stop that fails half-way is still started again.
  attempt.stopped.push(...running.map((c) => ({ id: c.id, ip: c.ip })));
  await Promise.all(running.map((c) => d.runtime.stopContainer(c.id, d.settings.GOKU_STOP_GRACE)));
}

/**
 * A stop-first attempt that failed or is reverted: its new containers are gone, so the old
 * ones start again and get their route back, at the addresses Docker gives them now.
 */
async function startOld(d: PipelineDeps, spec: SwitchSpec, attempt: Attempt, out: Out): Promise<void> {
  if (attempt.stopped.length === 0) return;
  out(`-----> Starting the running release of ${spec.deployment} again`);
  const moved = new Map<string, string>();
  for (const c of attempt.stopped) {
    await d.runtime.startContainer(c.id);
    const st = await d.runtime.inspectContainer(c.id);
    if (c.ip && st?.ip) moved.set(c.ip, st.ip);
  }
  await restoreRoute(d, spec, attempt.previous && remapRoute(attempt.previous, moved));
}

/** Starts `count` containers of the spec and waits for each to pass its health check. */
async function startInstances(
  d: PipelineDeps,
  spec: SwitchSpec & { impliedPort: boolean; check: HealthPlan },
  env: Record<string, string>,
  count: number,
  attempt: Attempt,
  out: Out,
  backup: boolean,
): Promise<Healthy[]> {
  const { app, deployment, port } = spec;
  if (!port) {
    out(`-----> ${deployment} has no web process (its Procfile names none): nothing is routed`);
    return [];
  }
  out(
    `-----> Starting ${deployment}${count === 1 ? '' : ` (${count} instances)`} (port ${port}${spec.impliedPort ? ": no EXPOSE and no PORT, Dokku's default" : ''})`,
  );
  const health = {
    runtime: d.runtime,
    timeout: d.settings.GOKU_DEPLOY_TIMEOUT,
    uptime: d.settings.GOKU_CHECK_UPTIME,
  };
  return Promise.all(
    Array.from({ length: count }, async (_, i) => {
      const id = await runProcess(d, spec, env, 'web', i);
      attempt.started[i] = id;
      return awaitHealthy(health, id, port, spec.check, i === 0 ? out : () => undefined, { backup }).catch(
        (err: unknown) => {
          if (!spec.impliedPort || !(err instanceof GokuError) || err.code !== 'GOKU_ERR_HEALTH_TIMEOUT')
            throw err;
          throw new GokuError(
            err.code,
            `${err.message}; with no EXPOSE and no config PORT the web process must listen on PORT (${port}, Dokku's default): EXPOSE its port, goku config:set ${app} PORT=N, or give a process that serves no HTTP another Procfile type than web`,
          );
        },
      );
    }),
  );
}

/**
 * Creates and starts instance i of a process type: the Procfile's command (after the image's
 * ENTRYPOINT; the image's CMD when there is no Procfile), the env with PORT, goku's labels.
 */
function runProcess(
  d: PipelineDeps,
  spec: SwitchSpec,
  env: Record<string, string>,
  type: string,
  i: number,
): Promise<string> {
  const { app, deployment } = spec;
  const runEnv = { ...env, PORT: String(spec.port ?? DEFAULT_WEB_PORT) };
  const command = spec.procfile?.[type];
  return d.runtime.runContainer({
    restart: false,
    name: `${containerName(d, type === 'web' ? deployment : `${deployment}-${type}`, i)}--${spec.release}`,
    image: spec.image,
    env: runEnv,
    ...(command ? { cmd: commandArgv(command, runEnv) } : {}),
    labels: {
      ...labels(d, app, deployment),
      'goku.branch': spec.branch,
      'goku.commit': spec.commit,
      'goku.release': spec.release,
      'goku.process': type,
      'goku.instance': String(i + 1),
    },
  });
}

/**
 * The other process types (worker, clock, ...), once web is live: each instance started,
 * then it must keep running for a moment (Dokku checks non-web processes by uptime alone).
 */
async function startWorkers(
  d: PipelineDeps,
  spec: SwitchSpec & { uncheckedTypes: string[] },
  env: Record<string, string>,
  workers: [string, number][],
  attempt: Attempt,
  out: Out,
): Promise<void> {
  const health = { runtime: d.runtime, timeout: d.settings.GOKU_DEPLOY_TIMEOUT, uptime: 0 };
  await Promise.all(
    workers.map(async ([type, n]) => {
      out(`-----> Starting ${type}${n === 1 ? '' : ` (${n} instances)`}: ${spec.procfile?.[type] ?? ''}`);
      const ids: string[] = [];
      attempt.workers[type] = ids;
      await Promise.all(
        Array.from({ length: n }, async (_, i) => {
          const id = await runProcess(d, spec, env, type, i);
          ids[i] = id;
          if (spec.uncheckedTypes.includes(type)) return;
          await awaitHealthy(health, id, null, { kind: 'default' }, () => undefined).catch((err: unknown) => {
            throw new GokuError(
              err instanceof GokuError ? err.code : 'GOKU_ERR_CONTAINER_EXITED',
              `${type} ${i + 1}: ${oneLine(err)}`,
            );
          });
        }),
      );
    }),
  );
}

/** Every container an attempt started: web's, then the other types'. */
function allStarted(attempt: Attempt): string[] {
  return [...attempt.started, ...Object.values(attempt.workers).flat()].filter(Boolean);
}

/** Points nginx at the new instances and confirms it through nginx (or unroutes the deployment). */
export async function routeTo(
  d: PipelineDeps,
  spec: SwitchSpec,
  appRec: AppView,
  ips: (string | null)[],
  attempt: Attempt,
  out: Out,
  backups: string[] = [],
): Promise<void> {
  const { app, deployment } = spec;
  const domains = domainsFor(d, appRec, deployment, spec.branch, spec.cname);
  const made = makeRoute({
    app,
    deployment,
    domains,
    ips: ips.filter((ip): ip is string => !!ip),
    port: spec.port,
    ports: deployment === app ? (appRec.ports ?? []) : [],
    httpPorts: deployment === app ? (appRec.proxyPorts ?? []) : [],
    release: spec.release,
  });
  const route = made && backups.length ? { ...made, backups } : made;
  if (route && (ips.length > 0 || route.http)) {
    const streams = route.streams.map((st) => ` ${st.mapping.host}/${st.mapping.proto}`).join(',');
    out(`-----> Routing ${route.http ? domains.join(', ') : ''}${streams}`);
    // A compose deployment that becomes a Dockerfile one leaves its other services' routes.
    const services = ownedRouteKeys(d, deployment).filter((k) => k !== deployment);
    await d.routes.change([route], [...(spec.replaces ? [spec.replaces.deployment] : []), ...services]);
    attempt.switched = true;
    if (route.http) await d.routes.proxyConfirm(domains[0] as string, spec.release);
    await d.routes.confirmStreams(route);
  } else if (attempt.previous) {
    await d.routes.change(
      [],
      [...ownedRouteKeys(d, deployment), ...(spec.replaces ? [spec.replaces.deployment] : [])],
    );
    attempt.switched = true;
  }
}

/** The deployment now runs the spec: its record (and env, scale) in the store. */
export async function recordDeployment(
  d: PipelineDeps,
  spec: SwitchSpec,
  attempt: Attempt,
  exposedPort: number | null,
  /** What the scheduler keeps with it (Swarm: its services). */
  extra: Pick<DeploymentRecord, 'swarm'> = {},
): Promise<void> {
  const { app, deployment, branch } = spec;
  const started = attempt.started;
  const rec: DeploymentRecord = {
    name: deployment,
    branch,
    commit: spec.commit,
    image: spec.image,
    port: spec.port,
    exposedPort,
    cnameDomains: spec.cname,
    health: spec.health,
    procfile: spec.procfile ? { ...spec.procfile } : null,
    appFormation: spec.appFormation ? { ...spec.appFormation } : null,
    ...(spec.scripts && Object.keys(spec.scripts).length ? { scripts: { ...spec.scripts } } : {}),
    ...(spec.liveness?.length ? { liveness: structuredClone([...spec.liveness]) } : {}),
    ...(Object.keys(attempt.workers).length
      ? { workers: Object.fromEntries(Object.entries(attempt.workers).map(([t, ids]) => [t, [...ids]])) }
      : {}),
    containerId: started[0] ?? '',
    containerIds: [...started],
    release: spec.release,
    deployedAt: new Date().toISOString(),
    ...extra,
  };
  await d.store.update((s) => {
    const a = s.apps[app];
    if (!a) throw new GokuError('GOKU_ERR_APP_NOT_FOUND', `app ${app} was destroyed during the deploy`);
    a.deployments[deployment] = rec;
    delete a.stopped; // a deploy starts a stopped app (ps:stop) again
    if (spec.env) a.env = { ...spec.env };
    if (spec.scale) setScale(a, spec.scale);
    a.updatedAt = rec.deployedAt;
  });
}

/** A failed attempt: the old route back first, the new container's last log lines, then its removal. */
async function undoAttempt(d: PipelineDeps, spec: SwitchSpec, attempt: Attempt, out: Out): Promise<void> {
  d.log.info(
    { app: spec.app, release: spec.release, switched: attempt.switched },
    'undoing a failed attempt',
  );
  if (attempt.switched && attempt.stopped.length === 0) {
    await restoreRoute(d, spec, attempt.previous).catch((e) =>
      d.log.error({ err: oneLine(e) }, 'could not restore route'),
    );
  }
  const first = attempt.started[0];
  if (first) {
    const logs = await d.runtime.containerLogs(first, 20).catch((err) => {
      d.log.warn({ app: spec.app, err: oneLine(err) }, 'could not read the failed container log');
      return '';
    });
    if (logs.trim()) {
      out('-----> Last lines of the container log:');
      for (const l of logs.trimEnd().split('\n')) out(`       ${l}`);
    }
  }
  await removeAttempt(d, spec, allStarted(attempt));
  // Only now: the app may not run two copies.
  await startOld(d, spec, attempt, out).catch((e) =>
    d.log.error({ app: spec.app, err: oneLine(e) }, 'could not start the old containers again'),
  );
  d.log.info({ app: spec.app, release: spec.release }, 'failed attempt undone');
}

/** The route as it was: the previous one back (a rename's under its old name), the new one gone. */
export function restoreRoute(d: PipelineDeps, spec: SwitchSpec, previous: Route | undefined): Promise<void> {
  return d.routes.change(previous ? [previous] : [], previous && !spec.replaces ? [] : [spec.deployment]);
}

/** Removes the attempt's containers (and its image, if it built one); already-gone ones are logged. */
async function removeAttempt(d: PipelineDeps, spec: SwitchSpec, ids: string[]): Promise<void> {
  const logged = (what: string) => (err: unknown) =>
    d.log.warn({ app: spec.app, what, err: oneLine(err) }, 'could not remove what a failed attempt made');
  await Promise.all(ids.filter(Boolean).map((id) => d.runtime.removeContainer(id).catch(logged(id))));
  if (spec.ownsImage) await d.runtime.removeImageTag(spec.image).catch(logged(spec.image));
}

/** After the switch: old nginx workers finish, the old containers retire, the new ones take their names. */
async function settle(
  d: PipelineDeps,
  spec: SwitchSpec,
  made: { web: string[]; workers: Record<string, string[]> },
): Promise<void> {
  await d.routes.drained();
  const keep = [...made.web, ...Object.values(made.workers).flat()];
  await retireOthers(d, spec.app, spec.deployment, keep);
  if (spec.replaces) await retireOthers(d, spec.replaces.app, spec.replaces.deployment, []);
  for (const [i, id] of made.web.entries())
    await d.runtime.renameContainer(id, containerName(d, spec.deployment, i));
  for (const [type, ids] of Object.entries(made.workers))
    for (const [i, id] of ids.entries())
      await d.runtime.renameContainer(id, containerName(d, `${spec.deployment}-${type}`, i));
  await pruneImages(d, spec.app, spec.deployment, spec.image);
}

/** Undoes a switch that went live but must not stay (its push did not land). */
async function revertSwitch(d: PipelineDeps, spec: SwitchSpec, attempt: Attempt): Promise<void> {
  if (attempt.stopped.length === 0) await restoreRoute(d, spec, attempt.previous);
  await restoreRecord(d, spec.app, spec.deployment, attempt.previousRecord);
  await removeAttempt(d, spec, allStarted(attempt));
  await startOld(d, spec, attempt, () => undefined);
}
