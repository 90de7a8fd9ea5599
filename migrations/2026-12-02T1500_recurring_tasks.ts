import { type Kysely, sql } from 'kysely';

// biome-ignore lint/suspicious/noExplicitAny: migrations are frozen in time
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('recurring_tasks')
    .addColumn('id', 'uuid', (c) => c.primaryKey())
    .addColumn('workspace_id', 'uuid', (c) => c.notNull().references('workspaces.id').onDelete('cascade'))
    .addColumn('user_id', 'uuid', (c) => c.references('users.id').onDelete('set null'))
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('description', 'text')
    .addColumn('type', 'text', (c) => c.notNull().check(sql`type IN ('ingest', 'classify')`))
    // What the user wrote, and the EventBridge form it became (rate(…) or a 6-field cron(…)).
    .addColumn('schedule', 'text', (c) => c.notNull())
    .addColumn('schedule_expression', 'text', (c) => c.notNull())
    .addColumn('timezone', 'text', (c) => c.notNull().defaultTo('UTC'))
    // A rate counts from here (creation or the last change of the schedule), as Scheduler does.
    .addColumn('schedule_anchor', 'timestamptz', (c) => c.notNull().defaultTo(sql`clock_timestamp()`))
    .addColumn('configuration', 'jsonb', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull().check(sql`status IN ('active', 'paused', 'error')`))
    .addColumn('status_reason', 'text')
    .addColumn('last_run_at', 'timestamptz')
    .addColumn('last_run_status', 'text')
    .addColumn('last_run_message', 'text')
    .addColumn('last_successful_run_at', 'timestamptz')
    .addColumn('last_job_id', 'uuid')
    .addColumn('consecutive_failures', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`clock_timestamp()`))
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`clock_timestamp()`))
    .execute();
  await db.schema
    .createIndex('recurring_tasks_workspace_idx')
    .on('recurring_tasks')
    .columns(['workspace_id', 'id'])
    .execute();
  await sql`CREATE TRIGGER recurring_tasks_set_updated_at BEFORE UPDATE ON recurring_tasks
    FOR EACH ROW EXECUTE FUNCTION set_updated_at()`.execute(db);

  await db.schema
    .createTable('task_runs')
    .addColumn('id', 'uuid', (c) => c.primaryKey())
    .addColumn('task_id', 'uuid', (c) => c.notNull().references('recurring_tasks.id').onDelete('cascade'))
    .addColumn('workspace_id', 'uuid', (c) => c.notNull().references('workspaces.id').onDelete('cascade'))
    // The firing this run answers: at-least-once delivery makes duplicates, this key makes one run.
    .addColumn('scheduled_for', 'timestamptz', (c) => c.notNull())
    .addColumn('trigger', 'text', (c) => c.notNull().check(sql`trigger IN ('schedule', 'manual')`))
    .addColumn('status', 'text', (c) =>
      c.notNull().check(sql`status IN ('running', 'succeeded', 'failed', 'skipped')`),
    )
    .addColumn('message', 'text')
    .addColumn('counts', 'jsonb', (c) => c.notNull().defaultTo(sql`'{}'::jsonb`))
    .addColumn('job_id', 'uuid', (c) => c.references('classification_jobs.id').onDelete('set null'))
    .addColumn('started_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`clock_timestamp()`))
    .addColumn('finished_at', 'timestamptz')
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`clock_timestamp()`))
    .addUniqueConstraint('task_runs_task_scheduled_for_key', ['task_id', 'scheduled_for'])
    .execute();
  await db.schema.createIndex('task_runs_task_idx').on('task_runs').columns(['task_id', 'id']).execute();
  await db.schema
    .createIndex('task_runs_running_idx')
    .on('task_runs')
    .column('updated_at')
    .where(sql.ref('status'), '=', 'running')
    .execute();
  await sql`CREATE TRIGGER task_runs_set_updated_at BEFORE UPDATE ON task_runs
    FOR EACH ROW EXECUTE FUNCTION set_updated_at()`.execute(db);
}

// biome-ignore lint/suspicious/noExplicitAny: migrations are frozen in time
export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('task_runs').execute();
  await db.schema.dropTable('recurring_tasks').execute();
}
