import type { Kysely } from 'kysely';

// biome-ignore lint/suspicious/noExplicitAny: migrations are frozen in time
export async function up(db: Kysely<any>): Promise<void> {
  // An item is claimed by a lease: the delivery that holds it (lease_owner, one id per message
  // being worked on) and until when (lease_expires_at, renewed while it works). Only the holder
  // calls the model for it and settles it; a holder that died gives it up when the lease runs out.
  await db.schema
    .alterTable('classification_items')
    .addColumn('lease_owner', 'uuid')
    .addColumn('lease_expires_at', 'timestamptz')
    .execute();
  // How many work items a billed call answered for: several when a record's schemes share one
  // call. Older rows were one call per item.
  await db.schema
    .alterTable('llm_usage')
    .addColumn('items', 'integer', (c) => c.notNull().defaultTo(1))
    .execute();
}

// biome-ignore lint/suspicious/noExplicitAny: migrations are frozen in time
export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('llm_usage').dropColumn('items').execute();
  await db.schema
    .alterTable('classification_items')
    .dropColumn('lease_owner')
    .dropColumn('lease_expires_at')
    .execute();
}
