import { assertAppName } from '../core/names.js';
import { GokuError } from '../errors.js';
import type { ImageSource, Snapshot, Store } from './types.js';

/** Refuses an app name that another app's branch deployment already uses. */
export function assertAppNameFree(data: Snapshot, name: string): void {
  for (const [other, rec] of Object.entries(data.apps)) {
    if (other !== name && rec.deployments[name]) {
      throw new GokuError(
        'GOKU_ERR_NAME_TAKEN',
        `app name ${name} is taken by a branch deployment of app ${other}; choose another name`,
      );
    }
  }
}

/**
 * Refuses a key's push that would create one app more than GOKU_MAX_APPS_PER_KEY: a deploy
 * key may push, and a push creates its app, so without a bound one key fills the disk.
 */
export function assertMayCreate(data: Snapshot, keyName: string, max: number): void {
  const mine = Object.values(data.apps).filter((a) => a.createdBy === keyName).length;
  if (mine >= max) {
    throw new GokuError(
      'GOKU_ERR_APP_LIMIT',
      `key ${keyName} has already created ${mine} apps by pushing (GOKU_MAX_APPS_PER_KEY=${max}); destroy one, or have an admin run apps:create`,
    );
  }
}

/** Creates an app record; refuses names that would collide with another app's branch deployment. */
export async function createApp(
  store: Store,
  name: string,
  createdBy?: string,
  image?: ImageSource,
): Promise<boolean> {
  assertAppName(name);
  return store.update((s) => {
    if (s.apps[name]) return false;
    assertAppNameFree(s, name);
    const now = new Date().toISOString();
    s.apps[name] = {
      name,
      createdAt: now,
      updatedAt: now,
      defaultBranch: null,
      env: {},
      domains: [],
      deployments: {},
      ...(createdBy ? { createdBy } : {}),
      ...(image ? { image } : {}),
    };
    return true;
  });
}

/**
 * A release still "running" when goku starts was cut off by a stop or a kill: its switch never
 * finished, so it is marked failed (the reconciler has already kept the app on the release
 * its record names).
 */
export async function failInterruptedReleases(store: Store): Promise<number> {
  return store.update((s) => {
    let n = 0;
    for (const a of Object.values(s.apps)) {
      for (const r of a.releases ?? []) {
        if (r.status !== 'running') continue;
        r.status = 'failed';
        r.reason = 'interrupted: goku stopped before the deploy finished';
        r.finishedAt = new Date().toISOString();
        n++;
      }
    }
    return n;
  });
}
