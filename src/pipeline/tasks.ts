import { randomBytes } from 'node:crypto';
import type { AppScripts } from '../core/checks.js';
import { commandArgv, DEFAULT_WEB_PORT, type Procfile } from '../core/procfile.js';
import { GokuError, oneLine } from '../errors.js';
import type { Out, PipelineDeps } from './context.js';

/**
 * Dokku's deployment tasks, each in a one-off container of the new image with the new config:
 * app.json's `scripts.dokku.predeploy` (its files committed into the image), then the
 * Procfile's `release`, before anything starts; `scripts.dokku.postdeploy` (and Heroku's
 * once-only `scripts.postdeploy`) after the switch.
 */
export interface TaskPlan {
  app: string;
  deployment: string;
  image: string;
  env: Readonly<Record<string, string>>;
  /** The web port, given to tasks as PORT too. */
  port: number | null;
  procfile: Readonly<Procfile> | null;
  scripts: Readonly<AppScripts> | null;
}

/**
 * Before the switch: predeploy (only for a new image: its changes are committed into it, under
 * the same tag), then the release command. A task that fails or runs past
 * GOKU_RELEASE_TIMEOUT throws GOKU_ERR_TASK_FAILED: nothing has started, nothing switches.
 * Returns the committed image's id when predeploy ran.
 */
export async function runBeforeSwitch(
  d: PipelineDeps,
  plan: TaskPlan,
  out: Out,
  opts: { predeploy: boolean },
): Promise<string | null> {
  let committed: string | null = null;
  const predeploy = plan.scripts?.predeploy;
  if (opts.predeploy && predeploy) {
    const { id } = await runTask(d, plan, 'predeploy', predeploy, out, true);
    committed = await d.runtime.commitTask(id, plan.image, plan.image);
  }
  const release = plan.procfile?.release;
  if (release) await runTask(d, plan, 'release', release, out, false);
  return committed;
}

/**
 * After the switch: postdeploy, and on the app's first deploy Heroku's scripts.postdeploy.
 * Their failure is reported and the release stays (Dokku's semantics: nothing is rolled back).
 */
export async function runAfterSwitch(
  d: PipelineDeps,
  plan: TaskPlan,
  out: Out,
  first: boolean,
): Promise<void> {
  const tasks: [string, string | undefined][] = [
    ['postdeploy', plan.scripts?.postdeploy],
    ['first-deploy postdeploy', first ? plan.scripts?.firstDeploy : undefined],
  ];
  for (const [phase, command] of tasks) {
    if (!command) continue;
    try {
      await runTask(d, plan, phase, command, out, false);
    } catch (err) {
      out(`-----> Warning: ${oneLine(err)}; the new release stays (a ${phase} task does not roll back)`);
    }
  }
}

/**
 * One task: its command through /bin/sh -c, or, when the image has an ENTRYPOINT, as words
 * passed to it (Dokku's rule); its output streams to the caller. Throws GOKU_ERR_TASK_FAILED
 * on a non-zero exit or a timeout.
 */
async function runTask(
  d: PipelineDeps,
  plan: TaskPlan,
  phase: string,
  command: string,
  out: Out,
  keep: boolean,
): Promise<{ id: string }> {
  const env = { ...plan.env, PORT: String(plan.port ?? DEFAULT_WEB_PORT) };
  const { entrypoint } = await d.runtime.imageConfig(plan.image);
  // A tini entrypoint (`tini --`) is an init, not the app's: the shell still applies (Dokku's exception).
  const init =
    entrypoint.length === 2 && /(^|\/)tini$/.test(entrypoint[0] as string) && entrypoint[1] === '--';
  const cmd = entrypoint.length > 0 && !init ? commandArgv(command, env) : ['/bin/sh', '-c', command];
  out(`-----> Running ${phase} task: ${command}`);
  const timeout = d.settings.GOKU_RELEASE_TIMEOUT;
  const { id, exitCode } = await d.runtime.runTask(
    {
      name: `${d.settings.GOKU_CONTAINER_PREFIX}${plan.deployment}--${phase.replace(/\W+/g, '-')}-${randomBytes(3).toString('hex')}`,
      image: plan.image,
      env,
      labels: {
        'goku.app': plan.app,
        'goku.home': d.homeLabel,
        'goku.process': phase.replace(/\W+/g, '-'),
      },
      cmd,
    },
    (line) => out(`       ${line}`),
    { timeoutMs: timeout * 1000, keep },
  );
  if (exitCode === 0) return { id };
  if (keep) await d.runtime.removeContainer(id).catch(() => undefined);
  throw new GokuError(
    'GOKU_ERR_TASK_FAILED',
    exitCode === null
      ? `the ${phase} task ran past GOKU_RELEASE_TIMEOUT (${timeout}s) and was stopped`
      : `the ${phase} task failed with exit status ${exitCode}`,
  );
}
