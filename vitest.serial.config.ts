import { defineConfig } from 'vitest/config';

// Tests that disturb the whole machine (restarting dockerd) run alone, after the others.
export default defineConfig({
  test: {
    include: ['test/serial/**/*.test.ts'],
    globalSetup: ['test/helpers/global-setup.ts'],
    testTimeout: 300_000,
    hookTimeout: 300_000,
    fileParallelism: false,
  },
});
