import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/harness/global-setup.ts'],
    testTimeout: 180_000,
    hookTimeout: 180_000,
    // Two cores here: two test files at a time, each with its own databases.
    maxWorkers: 2,
    reporters: ['default', './test/harness/summary-reporter.ts'],
  },
});
