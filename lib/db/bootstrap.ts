import type { Config } from '#lib/config.ts';
import { logger } from '#lib/logger.ts';
import { ensureFirstSuperuser } from '#lib/services/users.ts';
import type { Db } from './database.ts';
import { migrateToLatest } from './migrate.ts';

/**
 * Brings a database to the current schema and seeds the first superuser. Runs at local start
 * and, in AWS, in the migration function on every deploy; idempotent in both.
 */
export async function prepareDatabase(db: Db, firstSuperuser: Config['firstSuperuser']): Promise<void> {
  const { results } = await migrateToLatest(db);
  for (const r of results ?? []) logger.info('Migration applied', { migration: r.migrationName });
  if (firstSuperuser) {
    const outcome = await ensureFirstSuperuser(db, firstSuperuser.email, firstSuperuser.password);
    if (outcome === 'created') logger.info('First superuser created', { email: firstSuperuser.email });
  }
}
