import { createSecretKey, type KeyObject } from 'node:crypto';
import jwt from 'jsonwebtoken';

const keyObjects = new Map<string, KeyObject>();

/**
 * The signing key as a KeyObject, made once per key. Given a string, jsonwebtoken first tries
 * it as a public key, and that thrown and caught error on every request was the largest single
 * cost of an authenticated request (`npm run bench`).
 */
function keyObject(key: string): KeyObject {
  let object = keyObjects.get(key);
  if (!object) {
    object = createSecretKey(Buffer.from(key, 'utf8'));
    keyObjects.set(key, object);
  }
  return object;
}

/**
 * Signs an access token for a user: HS256, `sub` = user id, `ver` = the user's token version
 * (a password change bumps it and so revokes the token), `exp` after `minutes`.
 */
export function createAccessToken(
  user: { id: string; token_version: number },
  key: string,
  minutes: number,
): string {
  return jwt.sign({ ver: user.token_version }, keyObject(key), {
    algorithm: 'HS256',
    subject: user.id,
    expiresIn: minutes * 60,
  });
}

export type TokenCheck =
  | { ok: true; userId: string; version: number }
  | { ok: false; reason: 'expired' | 'invalid' };

/**
 * Verifies an access token. Only HS256 is accepted (no `none`, no algorithm confusion);
 * callers branch on the result instead of catching. A token without `ver` (issued before
 * versions existed) is version 0.
 */
export function verifyAccessToken(token: string, key: string): TokenCheck {
  try {
    const claims = jwt.verify(token, keyObject(key), { algorithms: ['HS256'] });
    if (typeof claims === 'string' || typeof claims.sub !== 'string' || typeof claims.exp !== 'number') {
      return { ok: false, reason: 'invalid' };
    }
    const version = claims.ver ?? 0;
    if (!Number.isSafeInteger(version) || version < 0) return { ok: false, reason: 'invalid' };
    return { ok: true, userId: claims.sub, version };
  } catch (error) {
    return { ok: false, reason: error instanceof jwt.TokenExpiredError ? 'expired' : 'invalid' };
  }
}
