import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['lib/**/*.test.ts', 'functions/**/*.test.ts', 'test/**/*.test.ts'],
    globalSetup: ['test/support/global-setup.ts'],
    env: { LOG_LEVEL: 'SILENT' },
    testTimeout: 30_000,
    hookTimeout: 120_000,
    // Two cores: more workers than that only queue on the CPU and the database.
    maxWorkers: 2,
  },
});
