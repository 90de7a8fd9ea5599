import { type Kysely, sql } from 'kysely';

// biome-ignore lint/suspicious/noExplicitAny: migrations are frozen in time
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('classification_schemes')
    .addColumn('id', 'uuid', (c) => c.primaryKey())
    .addColumn('workspace_id', 'uuid', (c) => c.notNull().references('workspaces.id').onDelete('cascade'))
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('description', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('model_instructions', 'text')
    .addColumn('fields', 'jsonb', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`clock_timestamp()`))
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`clock_timestamp()`))
    .execute();
  await db.schema
    .createIndex('classification_schemes_workspace_idx')
    .on('classification_schemes')
    .columns(['workspace_id', 'id'])
    .execute();

  await db.schema
    .createTable('classification_jobs')
    .addColumn('id', 'uuid', (c) => c.primaryKey())
    .addColumn('workspace_id', 'uuid', (c) => c.notNull().references('workspaces.id').onDelete('cascade'))
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('description', 'text')
    .addColumn('status', 'text', (c) =>
      c
        .notNull()
        .check(
          sql`status IN ('pending', 'running', 'completed', 'completed_with_errors', 'failed', 'cancelled')`,
        ),
    )
    .addColumn('scheme_ids', sql`uuid[]`, (c) => c.notNull())
    .addColumn('datasource_ids', sql`uuid[]`, (c) => c.notNull().defaultTo(sql`'{}'`))
    .addColumn('record_ids', sql`uuid[]`, (c) => c.notNull().defaultTo(sql`'{}'`))
    .addColumn('provider', 'text', (c) => c.notNull())
    .addColumn('model', 'text', (c) => c.notNull())
    .addColumn('options', 'jsonb', (c) => c.notNull().defaultTo(sql`'{}'::jsonb`))
    .addColumn('error_message', 'text')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`clock_timestamp()`))
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`clock_timestamp()`))
    .addColumn('finished_at', 'timestamptz')
    .execute();
  await db.schema
    .createIndex('classification_jobs_workspace_idx')
    .on('classification_jobs')
    .columns(['workspace_id', 'id'])
    .execute();

  // One work item per (job, record, scheme): the job's target, fixed when it is created.
  await db.schema
    .createTable('classification_items')
    .addColumn('job_id', 'uuid', (c) => c.notNull().references('classification_jobs.id').onDelete('cascade'))
    .addColumn('record_id', 'uuid', (c) => c.notNull().references('records.id').onDelete('cascade'))
    .addColumn('scheme_id', 'uuid', (c) =>
      c.notNull().references('classification_schemes.id').onDelete('cascade'),
    )
    .addColumn('status', 'text', (c) =>
      c.notNull().defaultTo('pending').check(sql`status IN ('pending', 'succeeded', 'failed', 'cancelled')`),
    )
    .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('reason', 'text')
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`clock_timestamp()`))
    .addPrimaryKeyConstraint('classification_items_pkey', ['job_id', 'record_id', 'scheme_id'])
    .execute();
  await db.schema
    .createIndex('classification_items_job_status_idx')
    .on('classification_items')
    .columns(['job_id', 'status'])
    .execute();

  await db.schema
    .createTable('classification_results')
    .addColumn('id', 'uuid', (c) => c.primaryKey())
    .addColumn('workspace_id', 'uuid', (c) => c.notNull().references('workspaces.id').onDelete('cascade'))
    .addColumn('job_id', 'uuid', (c) => c.notNull().references('classification_jobs.id').onDelete('cascade'))
    .addColumn('record_id', 'uuid', (c) => c.notNull().references('records.id').onDelete('cascade'))
    .addColumn('scheme_id', 'uuid', (c) =>
      c.notNull().references('classification_schemes.id').onDelete('cascade'),
    )
    .addColumn('value', 'jsonb', (c) => c.notNull())
    .addColumn('justifications', 'jsonb', (c) => c.notNull().defaultTo(sql`'{}'::jsonb`))
    .addColumn('provider', 'text', (c) => c.notNull())
    .addColumn('model', 'text', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`clock_timestamp()`))
    .execute();
  // Redelivery, retries and concurrent workers can never store a second result.
  await db.schema
    .createIndex('classification_results_item_key')
    .unique()
    .on('classification_results')
    .columns(['job_id', 'record_id', 'scheme_id'])
    .execute();
  await db.schema
    .createIndex('classification_results_workspace_idx')
    .on('classification_results')
    .columns(['workspace_id', 'id'])
    .execute();
  await db.schema
    .createIndex('classification_results_value_idx')
    .on('classification_results')
    .using('gin')
    .column('value')
    .execute();

  for (const table of ['classification_schemes', 'classification_jobs', 'classification_items']) {
    await sql`CREATE TRIGGER ${sql.raw(`${table}_set_updated_at`)} BEFORE UPDATE ON ${sql.table(table)}
      FOR EACH ROW EXECUTE FUNCTION set_updated_at()`.execute(db);
  }
}

// biome-ignore lint/suspicious/noExplicitAny: migrations are frozen in time
export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('classification_results').execute();
  await db.schema.dropTable('classification_items').execute();
  await db.schema.dropTable('classification_jobs').execute();
  await db.schema.dropTable('classification_schemes').execute();
}
