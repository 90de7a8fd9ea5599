import { type Kysely, sql } from 'kysely';

// biome-ignore lint/suspicious/noExplicitAny: migrations are frozen in time
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('share_links')
    .addColumn('id', 'uuid', (c) => c.primaryKey())
    // The token is looked up by its SHA-256 only; `token_sealed` (AES-GCM under a key derived from
    // the signing key) lets the owner read the link again without the token lying in the clear.
    .addColumn('token_hash', 'text', (c) => c.notNull().unique())
    .addColumn('token_sealed', 'text')
    .addColumn('user_id', 'uuid', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('workspace_id', 'uuid', (c) => c.notNull().references('workspaces.id').onDelete('cascade'))
    .addColumn('resource_type', 'text', (c) =>
      c
        .notNull()
        .check(sql`resource_type IN ('datasource', 'scheme', 'classification_job', 'dataset', 'workspace')`),
    )
    // Polymorphic, so no foreign key: a link whose resource is gone answers 404.
    .addColumn('resource_id', 'uuid', (c) => c.notNull())
    .addColumn('name', 'text')
    .addColumn('description', 'text')
    .addColumn('permission_level', 'text', (c) =>
      c.notNull().defaultTo('read_only').check(sql`permission_level IN ('read_only', 'import')`),
    )
    .addColumn('requires_login', 'boolean', (c) => c.notNull().defaultTo(true))
    .addColumn('expires_at', 'timestamptz')
    .addColumn('max_uses', 'integer', (c) => c.check(sql`max_uses > 0`))
    .addColumn('use_count', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('revoked_at', 'timestamptz')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`clock_timestamp()`))
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`clock_timestamp()`))
    .execute();
  await db.schema.createIndex('share_links_user_idx').on('share_links').columns(['user_id', 'id']).execute();
  await db.schema
    .createIndex('share_links_resource_idx')
    .on('share_links')
    .columns(['resource_type', 'resource_id'])
    .execute();
  await db.schema.createIndex('share_links_workspace_idx').on('share_links').column('workspace_id').execute();
  await sql`CREATE TRIGGER share_links_set_updated_at BEFORE UPDATE ON share_links
    FOR EACH ROW EXECUTE FUNCTION set_updated_at()`.execute(db);

  await db.schema
    .createTable('share_link_accesses')
    .addColumn('id', 'uuid', (c) => c.primaryKey())
    .addColumn('link_id', 'uuid', (c) => c.notNull().references('share_links.id').onDelete('cascade'))
    .addColumn('at', 'timestamptz', (c) => c.notNull().defaultTo(sql`clock_timestamp()`))
    .addColumn('user_id', 'uuid', (c) => c.references('users.id').onDelete('set null'))
    // Method and path with the token replaced by `{token}`: the log never holds the token.
    .addColumn('route', 'text', (c) => c.notNull())
    .addColumn('outcome', 'text', (c) =>
      c
        .notNull()
        .check(sql`outcome IN ('allowed', 'revoked', 'expired', 'exhausted', 'login_required', 'read_only')`),
    )
    .execute();
  await db.schema
    .createIndex('share_link_accesses_link_idx')
    .on('share_link_accesses')
    .columns(['link_id', 'id'])
    .execute();
}

// biome-ignore lint/suspicious/noExplicitAny: migrations are frozen in time
export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('share_link_accesses').execute();
  await db.schema.dropTable('share_links').execute();
}
