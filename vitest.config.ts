import { defineConfig } from 'vitest/config';
import WaitingFirst from './test/helpers/sequencer.js';

export default defineConfig({
  test: {
    include: ['test/unit/**/*.test.ts', 'test/integration/**/*.test.ts', 'test/e2e/**/*.test.ts'],
    globalSetup: ['test/helpers/global-setup.ts'],
    testTimeout: 180_000,
    hookTimeout: 180_000,
    // e2e files each run a whole server with Docker builds and mostly wait on Docker, nginx and
    // git. Four at a time gained 9% but left less margin, and with chromium's dashboard test
    // a CI run saw timing tests fail under the load: three.
    maxWorkers: 3,
    sequence: { sequencer: WaitingFirst },
    reporters: ['default'],
  },
});
