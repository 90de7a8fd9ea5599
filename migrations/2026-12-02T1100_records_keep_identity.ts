import { type Kysely, sql } from 'kysely';

/**
 * A reprocess updates records in place instead of replacing them, so that their ids, and the
 * classification results over them, survive.
 *
 * - `records.appended`: added through the append endpoint, not produced by the source; a
 *   reprocess never touches these.
 * - `records.seen_run`: the last run of the datasource that produced this record's key; a run
 *   removes (or, when results exist over them, marks) the source's records it did not see.
 * - `datasource_failures.run_id`: the run a failure belongs to (null: a failed append), so that
 *   a run counts and clears only its own.
 */
// biome-ignore lint/suspicious/noExplicitAny: migrations are frozen in time
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .alterTable('records')
    .addColumn('appended', 'boolean', (c) => c.notNull().defaultTo(false))
    .addColumn('seen_run', 'uuid')
    .execute();
  // Appends so far: extra texts of a text source (keyed text:<id>) and URLs not in the list.
  await sql`UPDATE records r SET appended = true FROM datasources d
    WHERE d.id = r.datasource_id
      AND ((d.type = 'text_block' AND r.source_key <> 'text')
        OR (d.type = 'url_list' AND NOT coalesce(d.options -> 'urls', '[]'::jsonb) ? r.source_key))`.execute(
    db,
  );
  await sql`UPDATE records r SET seen_run = d.run_id FROM datasources d
    WHERE d.id = r.datasource_id AND NOT r.appended`.execute(db);
  await db.schema.alterTable('datasource_failures').addColumn('run_id', 'uuid').execute();
  await sql`UPDATE datasource_failures f SET run_id = d.run_id FROM datasources d
    WHERE d.id = f.datasource_id`.execute(db);
}

// biome-ignore lint/suspicious/noExplicitAny: migrations are frozen in time
export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('datasource_failures').dropColumn('run_id').execute();
  await db.schema.alterTable('records').dropColumn('seen_run').dropColumn('appended').execute();
}
