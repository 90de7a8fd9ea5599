import { AsyncLocalStorage } from 'node:async_hooks';
import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import { config } from '#lib/config.ts';
import { logger } from '#lib/logger.ts';
import { readSecret } from '#lib/ports/secrets/aws.ts';
import type { Database } from './schema.ts';

export type Db = Kysely<Database>;

/**
 * Who uses a pool, and so how long its statements may run and how many connections it may
 * hold. Each role has a pool of its own in the local runtime, where the API and every worker
 * share one process: a flood of API requests waiting on locks cannot starve the ingest
 * worker of connections, nor the reverse. In Lambda a function is one role anyway.
 */
export type DbRole = 'api' | 'ingest' | 'classify' | 'tasks' | 'dead-letters' | 'migrate';

export type DbSettings = {
  /** Connections in the local runtime (a Lambda handles one event at a time: 2). */
  max: number;
  /** Below the function's timeout, so a statement never outlives the request that asked for it. */
  statementTimeoutMs: number;
  /** How long a statement waits for a row or advisory lock; 0 = up to the statement timeout. */
  lockTimeoutMs: number;
};

/**
 * Per role. The API function has 15 s: a statement gets 10, a lock 2 (API requests never wait
 * on a worker's long transaction; they answer 503 with Retry-After instead). Workers match
 * their function timeouts (ingest 10 min, classify 15 min, dead letters 1 min); the ingest
 * worker's advisory lock on a datasource may be waited on (a duplicate delivery), up to the
 * statement timeout.
 */
export const DB_ROLES: Record<DbRole, DbSettings> = {
  api: { max: 20, statementTimeoutMs: 10_000, lockTimeoutMs: 2_000 },
  ingest: { max: 10, statementTimeoutMs: 9 * 60_000, lockTimeoutMs: 0 },
  classify: { max: 10, statementTimeoutMs: 60_000, lockTimeoutMs: 30_000 },
  // The task dispatcher: short statements (a run's rows, a sweep's bounded updates) around scrapes.
  tasks: { max: 4, statementTimeoutMs: 60_000, lockTimeoutMs: 30_000 },
  'dead-letters': { max: 2, statementTimeoutMs: 30_000, lockTimeoutMs: 10_000 },
  // Migrations and the seed, at start: an index build may take what it takes.
  migrate: { max: 1, statementTimeoutMs: 0, lockTimeoutMs: 0 },
};

/** Builds a Kysely instance on a pg pool with a role's limits (default the API's). Callers own it and must `destroy()` it. */
export function createDb(connectionString: string, options: Partial<DbSettings> = {}): Db {
  const settings = { ...DB_ROLES.api, ...options };
  const pool = new pg.Pool({
    connectionString,
    // A Lambda handles one request at a time: a small pool keeps RDS Proxy's pinning cheap.
    max: options.max ?? (process.env.AWS_LAMBDA_FUNCTION_NAME ? 2 : settings.max),
    idleTimeoutMillis: 30_000,
    connectionTimeoutMillis: 10_000,
    // Sent in the startup packet, so every connection of the pool has them from its first statement.
    statement_timeout: settings.statementTimeoutMs,
    lock_timeout: settings.lockTimeoutMs,
    // A transaction left open by a crashed caller would hold its locks until the pool reaped it.
    idle_in_transaction_session_timeout: Math.max(settings.statementTimeoutMs, 60_000),
  });
  // An idle connection can die (database restart, proxy timeout, Ctrl-C reaching Postgres
  // first); without a listener pg would crash the process. The pool replaces it on next use.
  pool.on('error', (error) => logger.warn('Idle database connection lost', { error: error.message }));
  const db = new PoolDb({ dialect: new PostgresDialect({ pool }) });
  pools.set(db, pool);
  return db;
}

/**
 * Kysely ends its pool on `destroy()` only when it ever used it itself: a database used
 * through {@link withConnection} alone would keep its connections (and its process) alive.
 */
class PoolDb extends Kysely<Database> {
  override async destroy(): Promise<void> {
    await super.destroy();
    const pool = pools.get(this);
    if (pool && !pool.ending) await pool.end();
  }
}

/** The pool under each database made by {@link createDb}, for {@link withConnection}. */
const pools = new WeakMap<Db, pg.Pool>();

/**
 * Runs `body` on one connection of `db`'s pool, handed over twice: as a Kysely instance bound
 * to that connection alone (queries, `transaction()`), and as its raw pg client, for what Kysely
 * does not speak (COPY, see `copy.ts`). Both are one session: a COPY on the client inside
 * `conn.transaction()` belongs to that transaction. The connection goes back to the pool
 * afterwards, or is closed when Kysely found it broken.
 *
 * @example await withConnection(db, (conn, client) => conn.transaction().execute(async (trx) => copyFrom(client, ...)));
 */
export async function withConnection<T>(
  db: Db,
  body: (conn: Db, client: pg.PoolClient) => Promise<T>,
): Promise<T> {
  const pool = pools.get(db);
  if (!pool) throw new Error('withConnection takes a database made by createDb');
  const client = await pool.connect();
  let broken = false;
  // A pool of this one connection: Kysely's release keeps it, its destroy ends nothing.
  const conn = new Kysely<Database>({
    dialect: new PostgresDialect({
      pool: {
        options: {},
        connect: async () => ({
          query: client.query.bind(client) as pg.PoolClient['query'],
          processID: (client as pg.PoolClient & { processID?: number }).processID,
          release: (destroy?: boolean) => {
            broken ||= Boolean(destroy);
          },
        }),
        end: async () => {},
      },
    }),
  });
  try {
    return await body(conn, client);
  } finally {
    client.release(broken);
  }
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

const roles = new AsyncLocalStorage<DbRole>();

/**
 * Wraps a handler so that `db()` inside it (and everything it awaits) uses `role`'s pool.
 * Worker entry points wrap themselves; anything unwrapped is the API.
 *
 * @example export const handler = withDbRole('ingest', ingestWorker);
 */
export function withDbRole<A extends unknown[], R>(role: DbRole, fn: (...args: A) => R): (...args: A) => R {
  return (...args) => roles.run(role, () => fn(...args));
}

const shared = new Map<DbRole, Promise<Db>>();

/**
 * The process-wide database of a role (by default the caller's, see {@link withDbRole}),
 * created on first use and reused by warm invocations.
 */
export function db(role: DbRole = roles.getStore() ?? 'api'): Promise<Db> {
  let current = shared.get(role);
  if (!current) {
    current = resolveDatabaseUrl().then((url) => createDb(url, DB_ROLES[role]));
    shared.set(role, current);
    current.catch(() => {
      if (shared.get(role) === current) shared.delete(role);
    });
  }
  return current;
}

/** Closes every process-wide database (local runtime shutdown, test teardown). */
export async function closeDb(): Promise<void> {
  const current = [...shared.values()];
  shared.clear();
  await Promise.all(current.map(async (pending) => (await pending.catch(() => undefined))?.destroy()));
}
