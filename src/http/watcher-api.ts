import { pollSummary, type WatchService, type WatchView } from '../app/watch.js';
import { isValidAppName } from '../core/names.js';
import { GokuError } from '../errors.js';
import { formatImageRef, parseImageRef } from '../registry/reference.js';

/** One answer of the API: a status and a JSON body. */
export interface ApiAnswer {
  status: number;
  body: unknown;
}

/**
 * registrywatcher's HTTP API over the goku watcher; REPO in its paths is the goku app. Its
 * routes, or null when the path is none of them.
 */
export async function watcherRoute(
  watch: WatchService,
  method: string,
  path: string,
  body: () => Promise<unknown>,
): Promise<ApiAnswer | null> {
  if (path === '/repos' && method === 'GET') return { status: 200, body: repos(watch.views()) };
  const m = /^\/tags\/([^/]+)(\/reset)?$/.exec(path);
  if (!m) return null;
  let name: string;
  try {
    name = decodeURIComponent(m[1] as string);
  } catch {
    name = m[1] as string;
  }
  const app = watched(watch, name);
  if (m[2]) {
    if (method !== 'POST') return null;
    const o = await watch.reset(app);
    return { status: 200, body: { message: `${app} follows semver; ${pollSummary(o)}` } };
  }
  if (method === 'GET') return { status: 200, body: { repo_tag: repoTag(watch.view(app)) } };
  if (method !== 'POST') return null;
  return { status: 200, body: await update(watch, app, await body()) };
}

function repos(views: WatchView[]): Record<string, unknown> {
  return Object.fromEntries(
    views.map((v) => [
      v.app,
      {
        auto_deploy: v.autoDeploy,
        pinned_tag: v.pinnedTag ?? '',
        pinned_tag_value: v.pinnedDigest ?? '',
        tags: v.tags,
      },
    ]),
  );
}

/** What the app should run now: the tag the last poll wanted, else its own reference. */
function repoTag(v: WatchView): string {
  const ref = parseImageRef(v.ref);
  return formatImageRef({ ...ref, tag: v.desiredTag ?? ref.tag, digest: v.desiredTag ? null : ref.digest });
}

/** POST /tags/APP: pinned_tag (a tag, or "" for semver) and/or auto_deploy (and force); the pin deploys now. */
async function update(watch: WatchService, app: string, body: unknown): Promise<{ message: string }> {
  const b = body as { pinned_tag?: unknown; auto_deploy?: unknown; force?: unknown } | null;
  const obj = b && typeof b === 'object' && !Array.isArray(b) ? b : null;
  const pin = obj?.pinned_tag;
  const auto = obj?.auto_deploy;
  const force = obj?.force;
  if (
    (pin !== undefined && typeof pin !== 'string') ||
    (auto !== undefined && typeof auto !== 'boolean') ||
    (force !== undefined && typeof force !== 'boolean')
  ) {
    throw new GokuError('GOKU_ERR_USAGE', 'pinned_tag must be a string, and auto_deploy and force booleans');
  }
  if (pin === undefined && auto === undefined) {
    throw new GokuError(
      'GOKU_ERR_USAGE',
      'give pinned_tag (a tag, or "" to follow semver) and/or auto_deploy',
    );
  }
  // The pin first: one that fails (a bad or missing tag) changes nothing, auto-deploy included.
  const said: string[] = [];
  if (pin === '') {
    await watch.reset(app);
    said.push('follows semver');
  } else if (pin !== undefined) {
    // force: deploy now although the app may not run two copies and its window is closed.
    await watch.pin(app, pin, 'api', () => undefined, force === true);
    said.push(`pinned to ${pin} and deployed`);
  }
  if (auto !== undefined) {
    await watch.auto(app, auto);
    said.push(`auto-deploy ${auto ? 'on' : 'off'}`);
  }
  return { message: `${app}: ${said.join('; ')}` };
}

function watched(watch: WatchService, app: string): string {
  if (!isValidAppName(app))
    throw new GokuError('GOKU_ERR_NOT_WATCHED', `${JSON.stringify(app.slice(0, 40))} is not a watched app`);
  try {
    watch.view(app);
  } catch (err) {
    if (
      err instanceof GokuError &&
      (err.code === 'GOKU_ERR_APP_NOT_FOUND' || err.code === 'GOKU_ERR_SOURCE_MISMATCH')
    ) {
      throw new GokuError(
        'GOKU_ERR_NOT_WATCHED',
        `${app} is not an image app; the registry watcher follows image apps`,
      );
    }
    throw err;
  }
  return app;
}
