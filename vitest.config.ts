import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // nats-server, Chromium and a build: checked once, before any test file runs.
    globalSetup: ['test/prerequisites.ts'],
    // Tests start worker pools, servers and child processes: give them room, and no more
    // test files at once than the machine has cores.
    testTimeout: 60_000,
    hookTimeout: 60_000,
    maxWorkers: 2,
    pool: 'forks',
  },
});
