import { type Kysely, sql } from 'kysely';

// biome-ignore lint/suspicious/noExplicitAny: migrations are frozen in time
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('bundle_exports')
    .addColumn('id', 'uuid', (c) => c.primaryKey())
    .addColumn('workspace_id', 'uuid', (c) => c.notNull().references('workspaces.id').onDelete('cascade'))
    .addColumn('user_id', 'uuid', (c) => c.references('users.id').onDelete('set null'))
    .addColumn('type', 'text', (c) => c.notNull())
    .addColumn('resource_id', 'uuid')
    .addColumn('include_files', 'boolean', (c) => c.notNull().defaultTo(false))
    .addColumn('status', 'text', (c) =>
      c.notNull().check(sql`status IN ('pending', 'processing', 'complete', 'failed')`),
    )
    .addColumn('error_message', 'text')
    .addColumn('object_key', 'text')
    .addColumn('bytes', 'bigint')
    .addColumn('counts', 'jsonb', (c) => c.notNull().defaultTo(sql`'{}'::jsonb`))
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`clock_timestamp()`))
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`clock_timestamp()`))
    .addColumn('finished_at', 'timestamptz')
    .execute();
  await db.schema
    .createIndex('bundle_exports_workspace_idx')
    .on('bundle_exports')
    .columns(['workspace_id', 'id'])
    .execute();
  await sql`CREATE TRIGGER bundle_exports_set_updated_at BEFORE UPDATE ON bundle_exports
    FOR EACH ROW EXECUTE FUNCTION set_updated_at()`.execute(db);

  await db.schema
    .createTable('bundle_imports')
    .addColumn('id', 'uuid', (c) => c.primaryKey())
    .addColumn('workspace_id', 'uuid', (c) => c.notNull().references('workspaces.id').onDelete('cascade'))
    .addColumn('user_id', 'uuid', (c) => c.references('users.id').onDelete('set null'))
    .addColumn('status', 'text', (c) =>
      c.notNull().check(sql`status IN ('awaiting_upload', 'pending', 'processing', 'complete', 'failed')`),
    )
    .addColumn('error_message', 'text')
    // Where the bundle is uploaded to; deleted once the import has finished either way.
    .addColumn('object_key', 'text', (c) => c.notNull())
    // Known once read: docsift-bundle or reference-json, the bundle's type, and its signature's state.
    .addColumn('format', 'text')
    .addColumn('bundle_type', 'text')
    .addColumn('signature', 'text')
    .addColumn('counts', 'jsonb', (c) => c.notNull().defaultTo(sql`'{}'::jsonb`))
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`clock_timestamp()`))
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`clock_timestamp()`))
    .addColumn('finished_at', 'timestamptz')
    .execute();
  await db.schema
    .createIndex('bundle_imports_workspace_idx')
    .on('bundle_imports')
    .columns(['workspace_id', 'id'])
    .execute();
  await sql`CREATE TRIGGER bundle_imports_set_updated_at BEFORE UPDATE ON bundle_imports
    FOR EACH ROW EXECUTE FUNCTION set_updated_at()`.execute(db);
}

// biome-ignore lint/suspicious/noExplicitAny: migrations are frozen in time
export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('bundle_imports').execute();
  await db.schema.dropTable('bundle_exports').execute();
}
