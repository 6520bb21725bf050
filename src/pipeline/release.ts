import { randomBytes } from 'node:crypto';
import { GokuError, oneLine } from '../errors.js';
import type { AppView, DeepReadonly, ReleaseRecord } from '../store/types.js';
import type { Out, PipelineDeps } from './context.js';

/** Output kept per release; the oldest lines go first. */
const RELEASE_LOG_BYTES = 64 * 1024;
const MAX_RELEASES = 200;

export interface ReleaseHandle {
  version: number;
  /** Output that also goes into the release's log. */
  out: Out;
  set(
    fields: Partial<
      Pick<
        ReleaseRecord,
        | 'image'
        | 'imageId'
        | 'digest'
        | 'release'
        | 'commit'
        | 'source'
        | 'procfile'
        | 'appFormation'
        | 'scripts'
        | 'compose'
      >
    >,
  ): void;
  /** Nothing changed after all (no Dockerfile): drop the record. */
  discard(): void;
}

export type ReleaseBase = Pick<
  ReleaseRecord,
  'kind' | 'deployment' | 'branch' | 'commit' | 'by' | 'config'
> & {
  rollbackOf?: number;
};

/** A routing id: the commit, then a time-ordered unique suffix (also the image tag). */
export function newRouteId(commit: string): string {
  return `${commit.slice(0, 7)}-${Date.now().toString(36)}${randomBytes(2).toString('hex')}`;
}

/**
 * The default deployment's succeeded release before its current one, skipping releases that
 * ran the same image with the same config (a restart): rolling back always changes something.
 */
export function previousRelease(app: AppView): DeepReadonly<ReleaseRecord> | undefined {
  const current = app.deployments[app.name];
  if (!current) return undefined;
  const ok = (app.releases ?? []).filter((r) => r.deployment === app.name && r.status === 'succeeded');
  const idx = ok.findIndex((r) => r.release === current.release);
  const cur = ok[idx];
  if (!cur) return undefined;
  const same = (r: DeepReadonly<ReleaseRecord>) =>
    r.image === cur.image &&
    JSON.stringify(r.config) === JSON.stringify(cur.config) &&
    JSON.stringify(r.compose ?? null) === JSON.stringify(cur.compose ?? null);
  return ok
    .slice(0, idx)
    .reverse()
    .find((r) => !same(r));
}

/** Appends release vN as running; returns N. */
async function openRelease(d: PipelineDeps, app: string, base: ReleaseBase): Promise<number> {
  return d.store.update((s) => {
    const a = s.apps[app];
    if (!a) throw new GokuError('GOKU_ERR_APP_NOT_FOUND', `app ${app} does not exist`);
    const releases = a.releases ?? [];
    const v = (releases[releases.length - 1]?.version ?? 0) + 1;
    releases.push({
      version: v,
      ...base,
      image: '',
      imageId: '',
      digest: null,
      startedAt: new Date().toISOString(),
      finishedAt: null,
      status: 'running',
      reason: null,
      log: '',
      release: '',
    });
    a.releases = releases.slice(-MAX_RELEASES);
    return v;
  });
}

/** Marks release vN failed after the fact (a push whose ref git did not land). */
export async function failRelease(
  d: PipelineDeps,
  app: string,
  version: number,
  reason: string,
): Promise<void> {
  await d.store.update((s) => {
    const r = s.apps[app]?.releases?.find((x) => x.version === version);
    if (r) Object.assign(r, { status: 'failed', reason, config: {} });
  });
}

/** Writes a release's outcome (null: the release was discarded and goes from the list). */
function closeRelease(
  d: PipelineDeps,
  app: string,
  version: number,
  outcome: (Partial<ReleaseRecord> & { status: 'succeeded' | 'failed' }) | null,
): Promise<void> {
  return d.store.update((s) => {
    const a = s.apps[app];
    if (!a?.releases) return;
    if (!outcome) {
      a.releases = a.releases.filter((r) => r.version !== version);
      return;
    }
    const r = a.releases.find((x) => x.version === version);
    if (r)
      Object.assign(r, outcome, {
        finishedAt: new Date().toISOString(),
        // Nothing rolls back to a failed release: it keeps no config (which may be what failed).
        ...(outcome.status === 'failed' ? { config: {} } : {}),
      });
  });
}

/**
 * Records one change as release vN of the app: created as running, finished as succeeded or
 * failed (with the reason), keeping the output it produced. A failed attempt changes nothing
 * but its own record.
 */
export async function withRelease<T>(
  d: PipelineDeps,
  app: string,
  base: ReleaseBase,
  out: Out,
  fn: (rel: ReleaseHandle) => Promise<T>,
): Promise<T> {
  const log: string[] = [];
  let size = 0;
  const relOut: Out = (line) => {
    log.push(line);
    size += line.length + 1;
    while (size > RELEASE_LOG_BYTES && log.length > 1) size -= (log.shift() as string).length + 1;
    out(line);
  };
  const fields: Partial<ReleaseRecord> = {};
  let discarded = false;
  const version = await openRelease(d, app, base);
  // A release that runs on and on says so, with its last output line (the stage it is in).
  const started = Date.now();
  const watchdog = setInterval(() => {
    const secs = Math.round((Date.now() - started) / 1000);
    d.log.warn({ app, version, secs, last: log.at(-1) ?? '' }, 'release still running');
  }, 30_000);
  watchdog.unref();
  const finish = (status: 'succeeded' | 'failed', reason: string | null) =>
    closeRelease(d, app, version, discarded ? null : { ...fields, status, reason, log: log.join('\n') });
  const handle: ReleaseHandle = {
    version,
    out: relOut,
    set: (f) => Object.assign(fields, f),
    discard: () => {
      discarded = true;
    },
  };
  try {
    const result = await fn(handle);
    await finish('succeeded', null);
    return result;
  } catch (err) {
    await finish('failed', oneLine(err)).catch((e) =>
      d.log.error({ app, version, err: oneLine(e) }, 'could not record the failed release'),
    );
    throw err;
  } finally {
    clearInterval(watchdog);
  }
}
