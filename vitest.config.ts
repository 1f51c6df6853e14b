import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    // Integration files share one Docker engine on a 2-core machine: run files one at a time.
    fileParallelism: false,
    testTimeout: 240_000,
    hookTimeout: 300_000,
  },
});
