import { type Kysely, sql } from 'kysely';

/**
 * A record's datasource and workspace are checked together, by one foreign key: `(datasource_id,
 * workspace_id)` must be a datasource of that workspace. It replaces the two single-column keys
 * (one check per key per inserted row; the workspace one was implied by the datasource's own key
 * to its workspace) and refuses what they let through: a record filed under a workspace that is
 * not its datasource's. Deleting a workspace still removes its records, through its datasources.
 *
 * `records_event_timestamp_idx` keeps only records that have an event time: a filter on event
 * time never matches the others, and most sources (PDFs, texts, CSVs without a time column)
 * have none, so their ingest no longer writes that index.
 */
// biome-ignore lint/suspicious/noExplicitAny: migrations are frozen in time
export async function up(db: Kysely<any>): Promise<void> {
  await sql`ALTER TABLE datasources ADD CONSTRAINT datasources_id_workspace_key UNIQUE (id, workspace_id)`.execute(
    db,
  );
  // Added unchecked, then checked: the check reads every record but blocks no writes meanwhile.
  await sql`ALTER TABLE records ADD CONSTRAINT records_datasource_workspace_fkey
    FOREIGN KEY (datasource_id, workspace_id) REFERENCES datasources (id, workspace_id)
    ON DELETE CASCADE NOT VALID`.execute(db);
  await sql`ALTER TABLE records VALIDATE CONSTRAINT records_datasource_workspace_fkey`.execute(db);
  await sql`ALTER TABLE records DROP CONSTRAINT records_datasource_id_fkey`.execute(db);
  await sql`ALTER TABLE records DROP CONSTRAINT records_workspace_id_fkey`.execute(db);

  await db.schema.dropIndex('records_event_timestamp_idx').execute();
  await db.schema
    .createIndex('records_event_timestamp_idx')
    .on('records')
    .columns(['workspace_id', 'event_timestamp'])
    .where(sql.ref('event_timestamp'), 'is not', null)
    .execute();
}

// biome-ignore lint/suspicious/noExplicitAny: migrations are frozen in time
export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropIndex('records_event_timestamp_idx').execute();
  await db.schema
    .createIndex('records_event_timestamp_idx')
    .on('records')
    .columns(['workspace_id', 'event_timestamp'])
    .execute();
  await sql`ALTER TABLE records ADD CONSTRAINT records_workspace_id_fkey
    FOREIGN KEY (workspace_id) REFERENCES workspaces (id) ON DELETE CASCADE`.execute(db);
  await sql`ALTER TABLE records ADD CONSTRAINT records_datasource_id_fkey
    FOREIGN KEY (datasource_id) REFERENCES datasources (id) ON DELETE CASCADE`.execute(db);
  await sql`ALTER TABLE records DROP CONSTRAINT records_datasource_workspace_fkey`.execute(db);
  await sql`ALTER TABLE datasources DROP CONSTRAINT datasources_id_workspace_key`.execute(db);
}
