import { defineConfig } from 'vitest/config';

// Two lanes. `unit` needs no Docker engine (pure code, golden files, the host's
// validators) and runs files in parallel; `engine` drives the real engine and
// runs one file at a time, because its files share one engine on a 2-core machine.
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
          globalSetup: ['test/setup-unit.ts'],
          testTimeout: 60_000,
        },
      },
      {
        test: {
          name: 'engine',
          include: ['test/engine/**/*.test.ts'],
          globalSetup: ['test/setup-engine.ts'],
          fileParallelism: false,
          testTimeout: 240_000,
          hookTimeout: 300_000,
        },
      },
    ],
  },
});
