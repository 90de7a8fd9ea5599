import { existsSync } from 'node:fs';
import path from 'node:path';
import { loadConfig, setConfig } from '#lib/config.ts';
import { closeDb, db } from '#lib/db/database.ts';
import { startEmbeddedPostgres } from '#lib/db/embedded.ts';
import { prepareDatabase } from './bootstrap.ts';

// `npm run migrate`: applies pending migrations (and the first-superuser seed) to DATABASE_URL,
// or to the embedded database under DATA_DIR when it is unset.
if (existsSync('.env')) process.loadEnvFile('.env');
const config = loadConfig();
const embedded = config.databaseUrl ? undefined : await startEmbeddedPostgres(path.resolve(config.dataDir));
setConfig({ ...config, databaseUrl: config.databaseUrl ?? embedded?.url });
try {
  await prepareDatabase(await db('migrate'), config.firstSuperuser);
  console.log('Database is up to date');
} finally {
  await closeDb();
  await embedded?.stop();
}
