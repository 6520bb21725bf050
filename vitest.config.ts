import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/unit/**/*.test.ts', 'test/integration/**/*.test.ts', 'test/e2e/**/*.test.ts'],
    globalSetup: ['test/helpers/global-setup.ts'],
    testTimeout: 180_000,
    hookTimeout: 180_000,
    // e2e files each run a whole server with Docker builds; two at a time fits a 2-core machine.
    maxWorkers: 2,
    reporters: ['default'],
  },
});
