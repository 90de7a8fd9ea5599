import { type Kysely, sql } from 'kysely';

// biome-ignore lint/suspicious/noExplicitAny: migrations are frozen in time
export async function up(db: Kysely<any>): Promise<void> {
  // Carried in every access token and compared on every request: bumping it (password change,
  // reset, an admin setting a password) revokes every token issued before. Tokens without the
  // claim count as version 0, so tokens issued before this migration stay valid until then.
  await db.schema
    .alterTable('users')
    .addColumn('token_version', 'integer', (c) => c.notNull().defaultTo(0))
    .execute();

  // Login and recovery attempts within their throttling window, shared by every Lambda
  // instance. Keys are SHA-256 digests (of an email or a client address), not the values.
  await db.schema
    .createTable('auth_attempts')
    .addColumn('id', 'bigint', (c) => c.primaryKey().generatedAlwaysAsIdentity())
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('key_hash', 'text', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`clock_timestamp()`))
    .execute();
  await db.schema
    .createIndex('auth_attempts_key_idx')
    .on('auth_attempts')
    .columns(['kind', 'key_hash', 'created_at'])
    .execute();
  await db.schema.createIndex('auth_attempts_created_idx').on('auth_attempts').column('created_at').execute();
}

// biome-ignore lint/suspicious/noExplicitAny: migrations are frozen in time
export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('auth_attempts').execute();
  await db.schema.alterTable('users').dropColumn('token_version').execute();
}
