import { assertAppName } from '../core/names.js';
import { GokuError } from '../errors.js';
import type { Store } from './types.js';

/** Creates an app record; refuses names that would collide with another app's branch deployment. */
export async function createApp(store: Store, name: string): Promise<void> {
  assertAppName(name);
  await store.update((s) => {
    if (s.apps[name]) return;
    for (const [other, rec] of Object.entries(s.apps)) {
      if (rec.deployments[name]) {
        throw new GokuError(
          'GOKU_ERR_NAME_TAKEN',
          `app name ${name} is taken by a branch deployment of app ${other}; choose another name`,
        );
      }
    }
    const now = new Date().toISOString();
    s.apps[name] = {
      name,
      createdAt: now,
      updatedAt: now,
      defaultBranch: null,
      env: {},
      domains: [],
      deployments: {},
    };
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
