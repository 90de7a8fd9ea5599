import { type Kysely, sql } from 'kysely';

// biome-ignore lint/suspicious/noExplicitAny: migrations are frozen in time
export async function up(db: Kysely<any>): Promise<void> {
  // One row per billed provider call. A deleted job keeps its usage (the tokens were paid for):
  // the workspace's report still counts them.
  await db.schema
    .createTable('llm_usage')
    .addColumn('id', 'uuid', (c) => c.primaryKey())
    .addColumn('workspace_id', 'uuid', (c) => c.notNull().references('workspaces.id').onDelete('cascade'))
    .addColumn('job_id', 'uuid', (c) => c.references('classification_jobs.id').onDelete('set null'))
    .addColumn('provider', 'text', (c) => c.notNull())
    .addColumn('model', 'text', (c) => c.notNull())
    .addColumn('input_tokens', 'integer', (c) => c.notNull().check(sql`input_tokens >= 0`))
    .addColumn('cached_input_tokens', 'integer', (c) => c.notNull().check(sql`cached_input_tokens >= 0`))
    .addColumn('output_tokens', 'integer', (c) => c.notNull().check(sql`output_tokens >= 0`))
    // Null when the model had no configured price: unknown, never guessed.
    .addColumn('cost_usd', 'numeric')
    .addColumn('at', 'timestamptz', (c) => c.notNull().defaultTo(sql`clock_timestamp()`))
    .execute();
  await db.schema.createIndex('llm_usage_job_idx').on('llm_usage').column('job_id').execute();
  await db.schema
    .createIndex('llm_usage_workspace_at_idx')
    .on('llm_usage')
    .columns(['workspace_id', 'at'])
    .execute();

  // The budget's running totals: one atomic increment per item across concurrent workers.
  await db.schema
    .alterTable('classification_jobs')
    .addColumn('used_tokens', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('used_cost_usd', 'numeric', (c) => c.notNull().defaultTo(0))
    .execute();
  await sql`ALTER TABLE classification_jobs DROP CONSTRAINT IF EXISTS classification_jobs_status_check`.execute(
    db,
  );
  await sql`ALTER TABLE classification_jobs ADD CONSTRAINT classification_jobs_status_check CHECK (status IN
    ('pending', 'running', 'completed', 'completed_with_errors', 'failed', 'cancelled', 'budget_exceeded'))`.execute(
    db,
  );
}

// biome-ignore lint/suspicious/noExplicitAny: migrations are frozen in time
export async function down(db: Kysely<any>): Promise<void> {
  await sql`ALTER TABLE classification_jobs DROP CONSTRAINT IF EXISTS classification_jobs_status_check`.execute(
    db,
  );
  await sql`ALTER TABLE classification_jobs ADD CONSTRAINT classification_jobs_status_check CHECK (status IN
    ('pending', 'running', 'completed', 'completed_with_errors', 'failed', 'cancelled'))`.execute(db);
  await db.schema
    .alterTable('classification_jobs')
    .dropColumn('used_tokens')
    .dropColumn('used_cost_usd')
    .execute();
  await db.schema.dropTable('llm_usage').execute();
}
