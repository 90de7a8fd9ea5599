import { type Kysely, sql } from 'kysely';

// Deleting a datasource or workspace of a million records takes longer than an API request may
// (docs/architecture.md, "Deleting at scale"): the request marks it and the ingest worker deletes
// its records in chunks. A datasource marked so is `deleting`; a workspace or user, `deleted_at`.

// biome-ignore lint/suspicious/noExplicitAny: migrations are frozen in time
export async function up(db: Kysely<any>): Promise<void> {
  await sql`ALTER TABLE datasources DROP CONSTRAINT datasources_status_check`.execute(db);
  await sql`ALTER TABLE datasources ADD CONSTRAINT datasources_status_check
    CHECK (status IN ('awaiting_upload', 'pending', 'processing', 'complete', 'failed', 'deleting'))`.execute(
    db,
  );
  await db.schema.alterTable('workspaces').addColumn('deleted_at', 'timestamptz').execute();
  await db.schema.alterTable('users').addColumn('deleted_at', 'timestamptz').execute();
  // A deleted record's items go by cascade, one lookup per record: without an index leading with
  // record_id, each lookup reads every item of the table (the key leads with job_id).
  await db.schema
    .createIndex('classification_items_record_idx')
    .on('classification_items')
    .column('record_id')
    .execute();
}

// biome-ignore lint/suspicious/noExplicitAny: migrations are frozen in time
export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropIndex('classification_items_record_idx').execute();
  await db.schema.alterTable('users').dropColumn('deleted_at').execute();
  await db.schema.alterTable('workspaces').dropColumn('deleted_at').execute();
  await sql`ALTER TABLE datasources DROP CONSTRAINT datasources_status_check`.execute(db);
  await sql`ALTER TABLE datasources ADD CONSTRAINT datasources_status_check
    CHECK (status IN ('awaiting_upload', 'pending', 'processing', 'complete', 'failed'))`.execute(db);
}
