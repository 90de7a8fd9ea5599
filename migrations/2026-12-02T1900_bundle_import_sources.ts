import { type Kysely, sql } from 'kysely';

// biome-ignore lint/suspicious/noExplicitAny: migrations are frozen in time
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .alterTable('bundle_imports')
    // Where the bundle came from when not uploaded: a share link's id and what it shared, never its token.
    .addColumn('source', 'jsonb')
    // What an import left out and why ([{kind, count, reason}]): reference exports name ids they lack.
    .addColumn('skipped', 'jsonb', (c) => c.notNull().defaultTo(sql`'[]'::jsonb`))
    .execute();
}

// biome-ignore lint/suspicious/noExplicitAny: migrations are frozen in time
export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('bundle_imports').dropColumn('skipped').dropColumn('source').execute();
}
