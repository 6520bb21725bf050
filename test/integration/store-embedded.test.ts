import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EmbeddedStore } from '../../src/store/embedded.js';
import { storeContract } from './store-contract.js';

// The embedded store's crash safety (SIGKILL during writes) is tested in test/e2e/store.test.ts.
storeContract('embedded', async () => {
  const home = await mkdtemp(join(tmpdir(), 'goku-store-'));
  return {
    open: async () => new EmbeddedStore(home),
    cleanup: () => rm(home, { recursive: true, force: true }),
  };
});
