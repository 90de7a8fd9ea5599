import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { config } from '#lib/config.ts';
import { readSecret } from '#lib/ports/secrets/aws.ts';

let cached: Promise<string> | undefined;

async function resolveSecretKey(): Promise<string> {
  const { secretKey, secretKeyArn, platform, dataDir } = config();
  if (secretKey) return secretKey;
  if (secretKeyArn) return readSecret(secretKeyArn);
  if (platform === 'aws') throw new Error('SECRET_KEY_ARN (or SECRET_KEY) is required on the aws platform');
  // Local development: generate once and keep it, so tokens survive restarts.
  const file = path.resolve(dataDir, 'secret_key');
  if (!existsSync(file)) {
    await mkdir(dataDir, { recursive: true });
    await writeFile(file, randomBytes(48).toString('base64url'), { mode: 0o600, flag: 'wx' }).catch((e) => {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    });
  }
  // A key written by an older version (or by hand) may be readable by others: owner only.
  if (((await stat(file)).mode & 0o077) !== 0) await chmod(file, 0o600);
  return (await readFile(file, 'utf8')).trim();
}

/** The JWT signing key: SECRET_KEY, Secrets Manager in AWS, or generated once under DATA_DIR locally. */
export function secretKey(): Promise<string> {
  if (!cached) {
    // Once per resolution, not per call: every authenticated request asks for the key.
    cached = resolveSecretKey();
    cached.catch(() => {
      cached = undefined;
    });
  }
  return cached;
}

/** Forgets the cached key (tests that change config). */
export function resetSecretKey(): void {
  cached = undefined;
}
