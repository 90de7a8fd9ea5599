import { type Kysely, sql } from 'kysely';

// biome-ignore lint/suspicious/noExplicitAny: migrations are frozen in time
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('datasets')
    .addColumn('id', 'uuid', (c) => c.primaryKey())
    .addColumn('workspace_id', 'uuid', (c) => c.notNull().references('workspaces.id').onDelete('cascade'))
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('description', 'text')
    .addColumn('custom_metadata', 'jsonb', (c) => c.notNull().defaultTo(sql`'{}'::jsonb`))
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`clock_timestamp()`))
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`clock_timestamp()`))
    .execute();
  await db.schema
    .createIndex('datasets_workspace_idx')
    .on('datasets')
    .columns(['workspace_id', 'id'])
    .execute();
  await sql`CREATE TRIGGER datasets_set_updated_at BEFORE UPDATE ON datasets
    FOR EACH ROW EXECUTE FUNCTION set_updated_at()`.execute(db);

  // Membership is a table, not an id array: a deleted record leaves every dataset with it.
  await db.schema
    .createTable('dataset_records')
    .addColumn('dataset_id', 'uuid', (c) => c.notNull().references('datasets.id').onDelete('cascade'))
    .addColumn('record_id', 'uuid', (c) => c.notNull().references('records.id').onDelete('cascade'))
    .addColumn('added_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`clock_timestamp()`))
    .addPrimaryKeyConstraint('dataset_records_pkey', ['dataset_id', 'record_id'])
    .execute();
  // A record's delete finds its memberships by this index instead of scanning every dataset.
  await db.schema
    .createIndex('dataset_records_record_idx')
    .on('dataset_records')
    .column('record_id')
    .execute();

  // The schemes and jobs whose results a dataset carries (its bundle brings them along).
  await db.schema
    .createTable('dataset_schemes')
    .addColumn('dataset_id', 'uuid', (c) => c.notNull().references('datasets.id').onDelete('cascade'))
    .addColumn('scheme_id', 'uuid', (c) =>
      c.notNull().references('classification_schemes.id').onDelete('cascade'),
    )
    .addPrimaryKeyConstraint('dataset_schemes_pkey', ['dataset_id', 'scheme_id'])
    .execute();
  await db.schema
    .createIndex('dataset_schemes_scheme_idx')
    .on('dataset_schemes')
    .column('scheme_id')
    .execute();
  await db.schema
    .createTable('dataset_jobs')
    .addColumn('dataset_id', 'uuid', (c) => c.notNull().references('datasets.id').onDelete('cascade'))
    .addColumn('job_id', 'uuid', (c) => c.notNull().references('classification_jobs.id').onDelete('cascade'))
    .addPrimaryKeyConstraint('dataset_jobs_pkey', ['dataset_id', 'job_id'])
    .execute();
  await db.schema.createIndex('dataset_jobs_job_idx').on('dataset_jobs').column('job_id').execute();

  // A dataset's members' results are looked up by record (member lists, exports); until now
  // results were only reachable by job or workspace.
  await db.schema
    .createIndex('classification_results_record_idx')
    .on('classification_results')
    .columns(['record_id', 'scheme_id'])
    .execute();
}

// biome-ignore lint/suspicious/noExplicitAny: migrations are frozen in time
export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropIndex('classification_results_record_idx').execute();
  await db.schema.dropTable('dataset_jobs').execute();
  await db.schema.dropTable('dataset_schemes').execute();
  await db.schema.dropTable('dataset_records').execute();
  await db.schema.dropTable('datasets').execute();
}
