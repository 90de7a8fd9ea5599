import { type Kysely, sql } from 'kysely';

/**
 * Bounds every statement of the current transaction (`SET LOCAL statement_timeout`), and the
 * time it may sit idle, so no statement outlives the function that started it: below a Lambda's
 * timeout, Postgres cancels the work instead of applying it after the caller gave up.
 *
 * @example await db.transaction().execute(async (trx) => { await limitTransaction(trx, 10_000); … })
 */
export async function limitTransaction<DB>(trx: Kysely<DB>, statementMs: number): Promise<void> {
  await sql`SELECT set_config('statement_timeout', ${`${statementMs}ms`}, true),
                   set_config('idle_in_transaction_session_timeout', ${`${statementMs * 3}ms`}, true)`.execute(
    trx,
  );
}
