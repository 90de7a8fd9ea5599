import { type Kysely, sql } from 'kysely';

// What the reference system's client reads and sends that docsift had no place for: who made a
// datasource, scheme or job (`user_id`), a datasource's description, a scheme's validation rules.

// biome-ignore lint/suspicious/noExplicitAny: migrations are frozen in time
export async function up(db: Kysely<any>): Promise<void> {
  await sql`CREATE FUNCTION set_creator_from_workspace() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF NEW.user_id IS NULL THEN
        SELECT owner_id INTO NEW.user_id FROM workspaces WHERE id = NEW.workspace_id;
      END IF;
      RETURN NEW;
    END $$`.execute(db);
  for (const table of ['datasources', 'classification_schemes', 'classification_jobs']) {
    await db.schema
      .alterTable(table)
      .addColumn('user_id', 'uuid', (c) => c.references('users.id').onDelete('set null'))
      .execute();
    // Only a workspace's owner creates in it, so its owner is the creator: set by the database
    // on every insert (the API, imports, recurring tasks alike), and backfilled so.
    await sql`UPDATE ${sql.table(table)} t SET user_id = w.owner_id FROM workspaces w WHERE w.id = t.workspace_id`.execute(
      db,
    );
    await sql`CREATE TRIGGER ${sql.raw(`${table}_set_user_id`)} BEFORE INSERT ON ${sql.table(table)}
      FOR EACH ROW EXECUTE FUNCTION set_creator_from_workspace()`.execute(db);
  }
  await db.schema.alterTable('datasources').addColumn('description', 'text').execute();
  await db.schema.alterTable('classification_schemes').addColumn('validation_rules', 'jsonb').execute();
  // Per-scheme result counts (and the cascade of a scheme's delete) without a workspace scan.
  await db.schema
    .createIndex('classification_results_scheme_idx')
    .on('classification_results')
    .column('scheme_id')
    .execute();
}

// biome-ignore lint/suspicious/noExplicitAny: migrations are frozen in time
export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropIndex('classification_results_scheme_idx').execute();
  await db.schema.alterTable('classification_schemes').dropColumn('validation_rules').execute();
  await db.schema.alterTable('datasources').dropColumn('description').execute();
  for (const table of ['datasources', 'classification_schemes', 'classification_jobs']) {
    await sql`DROP TRIGGER ${sql.raw(`${table}_set_user_id`)} ON ${sql.table(table)}`.execute(db);
    await db.schema.alterTable(table).dropColumn('user_id').execute();
  }
  await sql`DROP FUNCTION set_creator_from_workspace()`.execute(db);
}
