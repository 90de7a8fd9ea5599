import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['lib/**/*.test.ts', 'functions/**/*.test.ts', 'test/**/*.test.ts'],
    globalSetup: ['test/support/global-setup.ts'],
    // TEST_LOG_LEVEL=INFO npm test shows the app's logs.
    env: {
      LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'SILENT',
      AWS_ACCESS_KEY_ID: 'testing',
      AWS_SECRET_ACCESS_KEY: 'testing',
      AWS_REGION: 'us-east-1',
    },
    testTimeout: 30_000,
    hookTimeout: 120_000,
    // Two cores: more workers than that only queue on the CPU and the database.
    maxWorkers: 2,
  },
});
