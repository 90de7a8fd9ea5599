import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import type { TestProject } from 'vitest/node';
import { createDb } from '#lib/db/database.ts';
import { startEmbeddedPostgres } from '#lib/db/embedded.ts';
import { migrateToLatest } from '#lib/db/migrate.ts';
import { type LocalStack, startLocalStack } from './localstack.ts';
import { startMoto } from './moto.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    /** A database URL on the test cluster with the right to create databases. */
    adminDatabaseUrl: string;
    /** The migrated database each test file clones its own database from. */
    templateDatabase: string;
    /** moto's server: the AWS emulator of the suite (S3, SQS, Secrets Manager...). */
    motoEndpoint: string;
    /** LocalStack in host mode: the second emulator the aws-platform end-to-end tests run on. */
    localstackEndpoint: string;
  }
}

export const TEMPLATE_DATABASE = 'docsift_template';

/**
 * Starts the suite's services. Postgres: TEST_DATABASE_URL when given (any server where that user
 * may create databases), else an embedded cluster in a temporary folder. Migrates a template
 * database once; every test file clones it (see database.ts), so files run in parallel on
 * databases of their own. And moto, the AWS emulator, which test files share under names of
 * their own (buckets, queues), and LocalStack, the second emulator, started alongside.
 */
export default async function setup(project: TestProject) {
  // LocalStack takes 2 to 15 s to answer (a minute more to create its venv, once): it starts
  // first and runs while Postgres migrates and moto starts.
  const localstackStart = startLocalStack();
  // Its failure is reported where it is awaited, not as an unhandled rejection before.
  localstackStart.catch(() => {});
  try {
    return await startTheRest(project, localstackStart);
  } catch (error) {
    // A setup that fails elsewhere leaves no LocalStack behind.
    await localstackStart.then(
      (localstack) => localstack.stop(),
      () => {},
    );
    throw error;
  }
}

async function startTheRest(project: TestProject, localstackStart: Promise<LocalStack>) {
  let adminDatabaseUrl = process.env.TEST_DATABASE_URL;
  let stopEmbedded: (() => Promise<void>) | undefined;
  let tempDir: string | undefined;
  if (!adminDatabaseUrl) {
    tempDir = await mkdtemp(path.join(tmpdir(), 'docsift-test-pg-'));
    // When root runs the tests, Postgres runs as user `postgres`, which must reach the folder.
    await chmod(tempDir, 0o755);
    const embedded = await startEmbeddedPostgres(tempDir);
    adminDatabaseUrl = embedded.url;
    stopEmbedded = embedded.stop;
  }

  const admin = new pg.Client({ connectionString: adminDatabaseUrl });
  await admin.connect();
  await admin.query(`DROP DATABASE IF EXISTS ${TEMPLATE_DATABASE} WITH (FORCE)`);
  await admin.query(`CREATE DATABASE ${TEMPLATE_DATABASE}`);
  await admin.end();

  const templateUrl = new URL(adminDatabaseUrl);
  templateUrl.pathname = `/${TEMPLATE_DATABASE}`;
  const db = createDb(templateUrl.toString(), { max: 1 });
  await migrateToLatest(db);
  await db.destroy();

  // Installs the pinned moto in a venv on first use (about 40 s), then starts in about 2 s.
  const moto = await startMoto();
  project.provide('motoEndpoint', moto.endpoint);
  const localstack = await localstackStart.catch(async (error) => {
    await moto.stop();
    await stopEmbedded?.();
    throw error;
  });
  project.provide('localstackEndpoint', localstack.endpoint);
  project.provide('adminDatabaseUrl', adminDatabaseUrl);
  project.provide('templateDatabase', TEMPLATE_DATABASE);

  return async () => {
    await Promise.all([moto.stop(), localstack.stop()]);
    await stopEmbedded?.();
    if (tempDir) await rm(tempDir, { recursive: true, force: true });
  };
}
