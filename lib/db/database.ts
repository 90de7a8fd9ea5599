import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import { config } from '#lib/config.ts';
import { logger } from '#lib/logger.ts';
import { readSecret } from '#lib/ports/secrets/aws.ts';
import type { Database } from './schema.ts';

export type Db = Kysely<Database>;

/** Builds a Kysely instance on a pg pool. Callers own it and must `destroy()` it. */
export function createDb(connectionString: string, options: { max?: number } = {}): Db {
  const pool = new pg.Pool({
    connectionString,
    // A Lambda handles one request at a time: a small pool keeps RDS Proxy's pinning cheap.
    max: options.max ?? (process.env.AWS_LAMBDA_FUNCTION_NAME ? 2 : 10),
    idleTimeoutMillis: 30_000,
    connectionTimeoutMillis: 10_000,
  });
  // An idle connection can die (database restart, proxy timeout, Ctrl-C reaching Postgres
  // first); without a listener pg would crash the process. The pool replaces it on next use.
  pool.on('error', (error) => logger.warn('Idle database connection lost', { error: error.message }));
  return new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
}

/** The connection string: DATABASE_URL, or built from the RDS credentials secret in AWS. */
export async function resolveDatabaseUrl(): Promise<string> {
  const { databaseUrl, databaseSecretArn } = config();
  if (databaseUrl) return databaseUrl;
  if (databaseSecretArn) {
    const s = JSON.parse(await readSecret(databaseSecretArn)) as {
      host: string;
      port?: number;
      username: string;
      password: string;
      dbname?: string;
    };
    const host = process.env.DATABASE_PROXY_ENDPOINT ?? s.host;
    const url = new URL(`postgres://${host}:${s.port ?? 5432}/${s.dbname ?? 'docsift'}`);
    url.username = encodeURIComponent(s.username);
    url.password = encodeURIComponent(s.password);
    // RDS Proxy requires TLS.
    url.searchParams.set('sslmode', 'no-verify');
    return url.toString();
  }
  throw new Error('No database configured: set DATABASE_URL or DATABASE_SECRET_ARN');
}

let shared: Promise<Db> | undefined;

/** The process-wide database, created on first use and reused by warm invocations. */
export function db(): Promise<Db> {
  shared ??= resolveDatabaseUrl().then((url) => createDb(url));
  shared.catch(() => {
    shared = undefined;
  });
  return shared;
}

/** Closes the process-wide database (local runtime shutdown, test teardown). */
export async function closeDb(): Promise<void> {
  const current = shared;
  shared = undefined;
  if (current) await (await current).destroy();
}
