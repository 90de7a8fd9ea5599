import jwt from 'jsonwebtoken';

/** Signs an access token for a user: HS256, `sub` = user id, `exp` after `minutes`. */
export function createAccessToken(userId: string, key: string, minutes: number): string {
  return jwt.sign({}, key, { algorithm: 'HS256', subject: userId, expiresIn: minutes * 60 });
}

export type TokenCheck = { ok: true; userId: string } | { ok: false; reason: 'expired' | 'invalid' };

/**
 * Verifies an access token. Only HS256 is accepted (no `none`, no algorithm confusion);
 * callers branch on the result instead of catching.
 */
export function verifyAccessToken(token: string, key: string): TokenCheck {
  try {
    const claims = jwt.verify(token, key, { algorithms: ['HS256'] });
    if (typeof claims === 'string' || typeof claims.sub !== 'string' || typeof claims.exp !== 'number') {
      return { ok: false, reason: 'invalid' };
    }
    return { ok: true, userId: claims.sub };
  } catch (error) {
    return { ok: false, reason: error instanceof jwt.TokenExpiredError ? 'expired' : 'invalid' };
  }
}
