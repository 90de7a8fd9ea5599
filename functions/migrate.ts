import { loadConfig, setConfig } from '#lib/config.ts';
import { prepareDatabase } from '#lib/db/bootstrap.ts';
import { closeDb, db } from '#lib/db/database.ts';
import { readSecret } from '#lib/ports/secrets/aws.ts';

/**
 * Applies pending migrations and seeds the first superuser. A CDK trigger invokes it on
 * every deploy (infra/constructs/migrations.ts); a throw fails the deployment.
 * The superuser's email is FIRST_SUPERUSER; the password is read from the secret named by
 * FIRST_SUPERUSER_PASSWORD_ARN, so it never sits in the function's configuration.
 */
export async function handler(): Promise<{ status: 'migrated' }> {
  const passwordArn = process.env.FIRST_SUPERUSER_PASSWORD_ARN;
  const password = passwordArn ? await readSecret(passwordArn) : undefined;
  // lib/config.ts validates FIRST_SUPERUSER and its password as a pair: hand it both.
  const settings = loadConfig({ ...process.env, FIRST_SUPERUSER_PASSWORD: password });
  setConfig(settings);
  try {
    await prepareDatabase(await db('migrate'), settings.firstSuperuser);
  } finally {
    // Each deploy's run stands alone: leave no idle connections pinned in the proxy.
    await closeDb();
  }
  return { status: 'migrated' };
}
