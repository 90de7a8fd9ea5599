import { type Kysely, sql } from 'kysely';

// biome-ignore lint/suspicious/noExplicitAny: migrations are frozen in time
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('datasources')
    .addColumn('id', 'uuid', (c) => c.primaryKey())
    .addColumn('workspace_id', 'uuid', (c) => c.notNull().references('workspaces.id').onDelete('cascade'))
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('type', 'text', (c) =>
      c.notNull().check(sql`type IN ('text_block', 'url', 'url_list', 'csv', 'pdf')`),
    )
    .addColumn('options', 'jsonb', (c) => c.notNull().defaultTo(sql`'{}'::jsonb`))
    .addColumn('status', 'text', (c) =>
      c.notNull().check(sql`status IN ('awaiting_upload', 'pending', 'processing', 'complete', 'failed')`),
    )
    .addColumn('error_message', 'text')
    .addColumn('metadata', 'jsonb', (c) => c.notNull().defaultTo(sql`'{}'::jsonb`))
    .addColumn('record_count', 'integer', (c) => c.notNull().defaultTo(0))
    // Which run of the source the worker must produce; a reprocess starts a new one, so
    // messages of an older run are recognised and dropped.
    .addColumn('run_id', 'uuid', (c) => c.notNull())
    .addColumn('object_key', 'text')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`clock_timestamp()`))
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`clock_timestamp()`))
    .execute();
  await db.schema
    .createIndex('datasources_workspace_idx')
    .on('datasources')
    .columns(['workspace_id', 'id'])
    .execute();
  await sql`CREATE TRIGGER datasources_set_updated_at BEFORE UPDATE ON datasources
    FOR EACH ROW EXECUTE FUNCTION set_updated_at()`.execute(db);

  await db.schema
    .createTable('records')
    .addColumn('id', 'uuid', (c) => c.primaryKey())
    .addColumn('workspace_id', 'uuid', (c) => c.notNull().references('workspaces.id').onDelete('cascade'))
    .addColumn('datasource_id', 'uuid', (c) => c.notNull().references('datasources.id').onDelete('cascade'))
    // What the record came from inside its source (row:12, page:3, a URL): one record per key.
    .addColumn('source_key', 'text', (c) => c.notNull())
    .addColumn('title', 'text')
    .addColumn('text_content', 'text', (c) => c.notNull())
    .addColumn('source_metadata', 'jsonb', (c) => c.notNull().defaultTo(sql`'{}'::jsonb`))
    .addColumn('event_timestamp', 'timestamptz')
    .addColumn('content_hash', 'text', (c) => c.notNull())
    // 'simple': no stemming, so every language the sources come in is searchable alike.
    .addColumn('search', sql`tsvector`, (c) =>
      c.generatedAlwaysAs(sql`to_tsvector('simple', coalesce(title, '') || ' ' || text_content)`).stored(),
    )
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`clock_timestamp()`))
    .execute();
  await db.schema
    .createIndex('records_datasource_source_key_key')
    .unique()
    .on('records')
    .columns(['datasource_id', 'source_key'])
    .execute();
  await db.schema
    .createIndex('records_workspace_idx')
    .on('records')
    .columns(['workspace_id', 'id'])
    .execute();
  await db.schema
    .createIndex('records_datasource_idx')
    .on('records')
    .columns(['datasource_id', 'id'])
    .execute();
  await db.schema.createIndex('records_search_idx').on('records').using('gin').column('search').execute();
  await db.schema
    .createIndex('records_event_timestamp_idx')
    .on('records')
    .columns(['workspace_id', 'event_timestamp'])
    .execute();

  // Inputs of a source that produced no record, with the reason (a URL that failed to scrape).
  await db.schema
    .createTable('datasource_failures')
    .addColumn('datasource_id', 'uuid', (c) => c.notNull().references('datasources.id').onDelete('cascade'))
    .addColumn('source_key', 'text', (c) => c.notNull())
    .addColumn('reason', 'text', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`clock_timestamp()`))
    .addPrimaryKeyConstraint('datasource_failures_pkey', ['datasource_id', 'source_key'])
    .execute();
}

// biome-ignore lint/suspicious/noExplicitAny: migrations are frozen in time
export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('datasource_failures').execute();
  await db.schema.dropTable('records').execute();
  await db.schema.dropTable('datasources').execute();
}
