import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { loadConfig } from '#lib/config.ts';
import { type Db, db } from '#lib/db/database.ts';
import { type LocalRuntime, startLocalRuntime } from '#lib/local/runtime.ts';
import { type ApiClient, apiClient } from './client.ts';
import { createTestDatabase } from './database.ts';

export const SUPERUSER = { email: 'admin@example.com', password: 'admin-password-1' };
export const TEST_SECRET_KEY = 'test-secret-key-that-is-long-enough-0123456789';

export type TestApp = LocalRuntime & { api: ApiClient; dataDir: string; db: () => Promise<Db> };

/**
 * Starts the local runtime on a database and data folder of its own, on a free port, and
 * returns it with an HTTP client for it. `env` overrides configuration variables.
 */
export async function startTestApp(env: Record<string, string> = {}): Promise<TestApp> {
  const database = await createTestDatabase();
  const dataDir = await mkdtemp(path.join(tmpdir(), 'docsift-test-data-'));
  const config = loadConfig({
    PORT: '0',
    DATA_DIR: dataDir,
    DATABASE_URL: database.url,
    SECRET_KEY: TEST_SECRET_KEY,
    FIRST_SUPERUSER: SUPERUSER.email,
    FIRST_SUPERUSER_PASSWORD: SUPERUSER.password,
    BACKEND_CORS_ORIGINS: 'http://app.example.com',
    LOG_LEVEL: process.env.LOG_LEVEL ?? 'SILENT',
    // Tests fire schedules with a clock of their own (app.scheduler().tick) and send sweeps themselves.
    LOCAL_SCHEDULER_TICK_SECONDS: '0',
    MAINTENANCE_INTERVAL_SECONDS: '0',
    ...env,
  });
  const runtime = await startLocalRuntime(config);
  return {
    ...runtime,
    api: apiClient(runtime.url),
    dataDir,
    db,
    stop: async () => {
      await runtime.stop();
      await database.drop();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}
