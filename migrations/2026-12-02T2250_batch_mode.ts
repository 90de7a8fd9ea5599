import { type Kysely, sql } from 'kysely';

// biome-ignore lint/suspicious/noExplicitAny: migrations are frozen in time
export async function up(db: Kysely<any>): Promise<void> {
  // online: a call per record as its items come; batch: the provider's batch API (half price, a day).
  await db.schema
    .alterTable('classification_jobs')
    .addColumn('mode', 'text', (c) => c.notNull().defaultTo('online'))
    .execute();
  // One provider batch (OpenAI Batch API) of a job in batch mode: a planner chunk's items, sent as
  // one JSONL file. `status` is ours: preparing (row made, not yet submitted), submitted (at the
  // provider), then completed, cancelled or failed once every item of it is settled or let go.
  await db.schema
    .createTable('classification_batches')
    .addColumn('id', 'uuid', (c) => c.primaryKey())
    .addColumn('job_id', 'uuid', (c) => c.notNull().references('classification_jobs.id').onDelete('cascade'))
    .addColumn('status', 'text', (c) => c.notNull().defaultTo('preparing'))
    .addColumn('provider_batch_id', 'text')
    .addColumn('input_file_id', 'text')
    .addColumn('provider_status', 'text')
    .addColumn('request_count', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('error_message', 'text')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('finished_at', 'timestamptz')
    .execute();
  await db.schema
    .createIndex('classification_batches_job')
    .on('classification_batches')
    .column('job_id')
    .execute();
  await sql`CREATE INDEX classification_batches_open ON classification_batches (updated_at)
    WHERE status IN ('preparing', 'submitted')`.execute(db);
  await sql`CREATE TRIGGER classification_batches_updated_at BEFORE UPDATE ON classification_batches
    FOR EACH ROW EXECUTE FUNCTION set_updated_at()`.execute(db);
  // The batch an item went out in: the online worker leaves such an item alone while it is pending.
  await db.schema
    .alterTable('classification_items')
    .addColumn('batch_id', 'uuid', (c) => c.references('classification_batches.id').onDelete('set null'))
    .execute();
  await sql`CREATE INDEX classification_items_batch ON classification_items (batch_id) WHERE batch_id IS NOT NULL`.execute(
    db,
  );
}

// biome-ignore lint/suspicious/noExplicitAny: migrations are frozen in time
export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('classification_items').dropColumn('batch_id').execute();
  await db.schema.dropTable('classification_batches').execute();
  await db.schema.alterTable('classification_jobs').dropColumn('mode').execute();
}
