import type { HealthPlan } from '../core/checks.js';
import { assertConfigSize, webPort } from '../core/config.js';
import { makeRoute, type Route, remapRoute } from '../core/routes.js';
import { GokuError, oneLine } from '../errors.js';
import { type AppView, type DeploymentRecord, type DeploymentView, thaw } from '../store/types.js';
import { appView, containerName, domainsFor, labels, type Out, type PipelineDeps } from './context.js';
import { assertNamesOurs, assertScale } from './guards.js';
import { awaitHealthy, type Healthy } from './health.js';
import { pruneImages, retireOthers } from './retire.js';

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
  /** Instances to run (ps:scale), recorded as the app's scale when the switch succeeds. */
  count?: number;
  /** Checked just before the switch: the change can no longer be kept (the pusher left). */
  abandoned?: () => boolean;
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
interface Attempt {
  started: string[];
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
  const count = asked.count ?? (asked.deployment === asked.app ? (appRec.scale ?? 1) : 1);
  assertScale(d, asked.app, count);
  // The stored env may have been written by hand (Consul), past what Docker takes.
  const env = asked.env ?? appRec.env;
  assertConfigSize(env);
  const exposedPort = asked.port;
  const spec = { ...asked, port: webPort(env, exposedPort) };
  await assertNamesOurs(d, spec.deployment, count);
  const attempt: Attempt = {
    started: [],
    switched: false,
    stopped: [],
    previous: d.routes.get(spec.deployment),
    previousRecord: appRec.deployments[spec.deployment],
  };
  // The new release takes traffic at its first good answer; the default check's uptime watch
  // runs after that, so new content is served a watch earlier. A release serving now stays in
  // nginx as the backup meanwhile, so a failure in the watch costs no request; with none (a
  // first deploy), a failure takes the route away again, as it was.
  const watched = spec.health.kind === 'default' && !!spec.port && d.settings.GOKU_CHECK_UPTIME > 0;
  // An app that may not run two copies (schedule --downtime) has its old containers stopped
  // before the new ones start: no backup then, and a failure starts the old ones again.
  const stopFirst = !!appRec.image?.schedule?.downtime && !!attempt.previousRecord;
  const backups = watched && !stopFirst ? (attempt.previous?.upstreams ?? []) : [];
  const downSince = Date.now();
  try {
    if (stopFirst) await stopOld(d, spec, attempt, out);
    const healthy = await startInstances(d, spec, env, count, attempt, out, backups.length > 0);
    await spec.ready;
    const ips = healthy.map((h) => h.ip);
    lap('start');
    if (spec.abandoned?.()) {
      throw new GokuError(
        'GOKU_ERR_PUSH_REJECTED',
        'the pusher went away before the deploy finished, so git cannot land the push; nothing was switched',
      );
    }
    await routeTo(d, spec, appRec, ips, attempt, out, backups);
    lap('switch');
    if (stopFirst)
      out(`       ${spec.deployment} was down for ${((Date.now() - downSince) / 1000).toFixed(1)} s`);
    await Promise.all(healthy.map((h) => h.watch()));
    if (backups.length) await routeTo(d, spec, appRec, ips, attempt, () => undefined); // the backup goes
    // Proven: from now on Docker restarts them if they exit, as every running release.
    await Promise.all(attempt.started.map((id) => d.runtime.keepRunning(id)));
    await recordDeployment(d, spec, attempt.started, exposedPort);
    lap('route');
  } catch (err) {
    // The image must be whole before an undo removes it (a commit landing after would leak it).
    await spec.ready?.catch(() => undefined);
    await undoAttempt(d, spec, attempt, out);
    throw err;
  }
  const ids = [...attempt.started];
  return { port: spec.port, tail: () => settle(d, spec, ids), revert: () => revertSwitch(d, spec, attempt) };
}

/** Stop-first: stops every running container of the deployment (kept, to start again on a failure). */
async function stopOld(d: PipelineDeps, spec: SwitchSpec, attempt: Attempt, out: Out): Promise<void> {
  const list = await d.runtime.listContainers(labels(d, spec.app, spec.deployment));
  const running = list.filter((c) => c.state === 'running' || c.state === 'restarting');
  if (running.length === 0) return;
  out(`-----> Stopping ${spec.deployment} first: it may not run two copies (schedule --downtime)`);
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
  await restoreRoute(d, spec.deployment, attempt.previous && remapRoute(attempt.previous, moved));
}

/** Starts `count` containers of the spec and waits for each to pass its health check. */
async function startInstances(
  d: PipelineDeps,
  spec: SwitchSpec,
  env: Record<string, string>,
  count: number,
  attempt: Attempt,
  out: Out,
  backup: boolean,
): Promise<Healthy[]> {
  const { app, deployment, port } = spec;
  out(
    `-----> Starting ${deployment}${count === 1 ? '' : ` (${count} instances)`}${port ? ` (port ${port})` : ' (no EXPOSE: not routed)'}`,
  );
  const health = {
    runtime: d.runtime,
    timeout: d.settings.GOKU_DEPLOY_TIMEOUT,
    uptime: d.settings.GOKU_CHECK_UPTIME,
  };
  return Promise.all(
    Array.from({ length: count }, async (_, i) => {
      const id = await d.runtime.runContainer({
        restart: false,
        name: `${containerName(d, deployment, i)}--${spec.release}`,
        image: spec.image,
        env: { ...env, ...(port ? { PORT: String(port) } : {}) },
        labels: {
          ...labels(d, app, deployment),
          'goku.branch': spec.branch,
          'goku.commit': spec.commit,
          'goku.release': spec.release,
          'goku.instance': String(i + 1),
        },
      });
      attempt.started[i] = id;
      return awaitHealthy(health, id, port, spec.health, i === 0 ? out : () => undefined, { backup });
    }),
  );
}

/** Points nginx at the new instances and confirms it through nginx (or unroutes the deployment). */
async function routeTo(
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
    release: spec.release,
  });
  const route = made && backups.length ? { ...made, backups } : made;
  if (route && (ips.length > 0 || route.http)) {
    const streams = route.streams.map((st) => ` ${st.mapping.host}/${st.mapping.proto}`).join(',');
    out(`-----> Routing ${route.http ? domains.join(', ') : ''}${streams}`);
    await d.routes.change([route]);
    attempt.switched = true;
    if (route.http) await d.routes.proxyConfirm(domains[0] as string, spec.release);
    await d.routes.confirmStreams(route);
  } else if (attempt.previous) {
    await d.routes.change([], [deployment]);
    attempt.switched = true;
  }
}

/** The deployment now runs the spec: its record (and env, scale) in the store. */
async function recordDeployment(
  d: PipelineDeps,
  spec: SwitchSpec,
  started: string[],
  exposedPort: number | null,
): Promise<void> {
  const { app, deployment, branch } = spec;
  const rec: DeploymentRecord = {
    name: deployment,
    branch,
    commit: spec.commit,
    image: spec.image,
    port: spec.port,
    exposedPort,
    cnameDomains: spec.cname,
    health: spec.health,
    containerId: started[0] ?? '',
    containerIds: [...started],
    release: spec.release,
    deployedAt: new Date().toISOString(),
  };
  await d.store.update((s) => {
    const a = s.apps[app];
    if (!a) throw new GokuError('GOKU_ERR_APP_NOT_FOUND', `app ${app} was destroyed during the deploy`);
    a.deployments[deployment] = rec;
    delete a.stopped; // a deploy starts a stopped app (ps:stop) again
    if (spec.env) a.env = { ...spec.env };
    if (spec.count !== undefined) a.scale = spec.count;
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
    await restoreRoute(d, spec.deployment, attempt.previous).catch((e) =>
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
  await removeAttempt(d, spec, attempt.started);
  // Only now: the app may not run two copies.
  await startOld(d, spec, attempt, out).catch((e) =>
    d.log.error({ app: spec.app, err: oneLine(e) }, 'could not start the old containers again'),
  );
  d.log.info({ app: spec.app, release: spec.release }, 'failed attempt undone');
}

function restoreRoute(d: PipelineDeps, deployment: string, previous: Route | undefined): Promise<void> {
  return d.routes.change(previous ? [previous] : [], previous ? [] : [deployment]);
}

/** Removes the attempt's containers (and its image, if it built one); already-gone ones are logged. */
async function removeAttempt(d: PipelineDeps, spec: SwitchSpec, ids: string[]): Promise<void> {
  const logged = (what: string) => (err: unknown) =>
    d.log.warn({ app: spec.app, what, err: oneLine(err) }, 'could not remove what a failed attempt made');
  await Promise.all(ids.filter(Boolean).map((id) => d.runtime.removeContainer(id).catch(logged(id))));
  if (spec.ownsImage) await d.runtime.removeImageTag(spec.image).catch(logged(spec.image));
}

/** After the switch: old nginx workers finish, the old containers retire, the new ones take their names. */
async function settle(d: PipelineDeps, spec: SwitchSpec, ids: string[]): Promise<void> {
  await d.routes.drained();
  await retireOthers(d, spec.app, spec.deployment, ids);
  for (const [i, id] of ids.entries())
    await d.runtime.renameContainer(id, containerName(d, spec.deployment, i));
  await pruneImages(d, spec.app, spec.deployment, spec.image);
}

/** Undoes a switch that went live but must not stay (its push did not land). */
async function revertSwitch(d: PipelineDeps, spec: SwitchSpec, attempt: Attempt): Promise<void> {
  if (attempt.stopped.length === 0) await restoreRoute(d, spec.deployment, attempt.previous);
  await d.store.update((s) => {
    const a = s.apps[spec.app];
    if (!a) return;
    if (attempt.previousRecord)
      a.deployments[spec.deployment] = thaw<DeploymentRecord>(attempt.previousRecord);
    else delete a.deployments[spec.deployment];
  });
  await removeAttempt(d, spec, attempt.started);
  await startOld(d, spec, attempt, () => undefined);
}
