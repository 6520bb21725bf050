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
