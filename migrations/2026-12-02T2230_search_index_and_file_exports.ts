import { type Kysely, sql } from 'kysely';

/**
 * Two changes for a million records.
 *
 * - **Search leaves the records table.** Its generated `tsvector` and GIN index cost most of a
 *   CSV ingest (COPY of 100,000 records: 8.8 s into `records`, 0.3 s into a plain table). The
 *   search document moves to `record_search` (one row per record, `doc_hash` saying which title
 *   and text it was built from), written after a large run commits by a step of its own;
 *   `datasources.search_status` says whether that step is still to finish (`indexing`).
 * - **Exports of results and datasets as files** become rows of `bundle_exports` (`format`
 *   csv/jsonl/json; `bundle` is the ZIP bundle), written by the ingest worker like bundles.
 */
// biome-ignore lint/suspicious/noExplicitAny: migrations are frozen in time
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('record_search')
    .addColumn('record_id', 'uuid', (c) => c.primaryKey().references('records.id').onDelete('cascade'))
    .addColumn('workspace_id', 'uuid', (c) => c.notNull())
    .addColumn('doc_hash', 'text', (c) => c.notNull())
    .addColumn('search', sql`tsvector`, (c) => c.notNull())
    .execute();
  await sql`INSERT INTO record_search (record_id, workspace_id, doc_hash, search)
    SELECT id, workspace_id, md5(coalesce(title, '') || ' ' || content_hash), search FROM records`.execute(
    db,
  );
  // Built once over the copied rows (a bulk build), not row by row.
  await db.schema
    .createIndex('record_search_idx')
    .on('record_search')
    .using('gin')
    .column('search')
    .execute();
  await db.schema.alterTable('records').dropColumn('search').execute();
  await db.schema
    .alterTable('datasources')
    .addColumn('search_status', 'text', (c) =>
      c.notNull().defaultTo('ready').check(sql`search_status IN ('indexing', 'ready')`),
    )
    .execute();

  await db.schema
    .alterTable('bundle_exports')
    .addColumn('format', 'text', (c) =>
      c.notNull().defaultTo('bundle').check(sql`format IN ('bundle', 'csv', 'jsonl', 'json')`),
    )
    .addColumn('include_text', 'boolean', (c) => c.notNull().defaultTo(false))
    .execute();
}

// biome-ignore lint/suspicious/noExplicitAny: migrations are frozen in time
export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('bundle_exports').dropColumn('format').dropColumn('include_text').execute();
  await db.schema.alterTable('datasources').dropColumn('search_status').execute();
  await db.schema
    .alterTable('records')
    .addColumn('search', sql`tsvector`, (c) =>
      c.generatedAlwaysAs(sql`to_tsvector('simple', coalesce(title, '') || ' ' || text_content)`).stored(),
    )
    .execute();
  await db.schema.createIndex('records_search_idx').on('records').using('gin').column('search').execute();
  await db.schema.dropTable('record_search').execute();
}
