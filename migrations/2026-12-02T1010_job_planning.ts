import { type Kysely, sql } from 'kysely';

// biome-ignore lint/suspicious/noExplicitAny: migrations are frozen in time
export async function up(db: Kysely<any>): Promise<void> {
  // A job's work items are now created by its planner, a chunk of records at a time:
  // plan_cursor is the last record id planned (the chain's position; all f's once it is
  // through, and back to NULL for a retry's walk over the items), plan_until the
  // highest record id of its target, planned_records how many records it has taken so far
  // (max_records), planned_at when its last chunk was planned.
  await db.schema
    .alterTable('classification_jobs')
    .addColumn('plan_cursor', 'uuid')
    .addColumn('plan_until', 'uuid')
    .addColumn('planned_records', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('planned_at', 'timestamptz')
    .execute();
  // Jobs made before had every item written with them: they are planned, and through unless
  // their plan_job message (which then sends their items out) has yet to come.
  await sql`UPDATE classification_jobs SET planned_at = created_at,
    plan_cursor = CASE WHEN status = 'pending' THEN NULL
                       ELSE 'ffffffff-ffff-ffff-ffff-ffffffffffff'::uuid END`.execute(db);
}

// biome-ignore lint/suspicious/noExplicitAny: migrations are frozen in time
export async function down(db: Kysely<any>): Promise<void> {
  await db.schema
    .alterTable('classification_jobs')
    .dropColumn('plan_cursor')
    .dropColumn('plan_until')
    .dropColumn('planned_records')
    .dropColumn('planned_at')
    .execute();
}
