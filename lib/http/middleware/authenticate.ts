import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { secretKey } from '#lib/auth/secret-key.ts';
import { verifyAccessToken } from '#lib/auth/tokens.ts';
import type { Db } from '#lib/db/database.ts';
import type { User } from '#lib/db/schema.ts';
import { findUserById } from '#lib/services/users.ts';
import { ForbiddenError, UnauthorizedError } from '../errors.ts';
import type { AuthLevel } from '../route.ts';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * Resolves the caller of a route from its bearer token. Public routes get no user, nor do
 * `optional` ones called without an `authorization` header (with one, it is checked as on a
 * user route: a bad token is a 401, never silently anonymous). A missing,
 * malformed, forged or expired token, one whose user no longer exists, or one issued before the
 * user's password last changed (an older token version), is a 401; an inactive user a 403, as
 * is a non-superuser on a superuser route.
 */
export async function authenticate(
  level: AuthLevel,
  event: APIGatewayProxyEventV2,
  db: () => Promise<Db>,
): Promise<User | undefined> {
  if (level === 'public') return undefined;
  const header = event.headers?.authorization ?? '';
  if (level === 'optional' && header === '') return undefined;
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  if (!match?.[1]) throw new UnauthorizedError('Not authenticated');
  const check = verifyAccessToken(match[1], await secretKey());
  if (!check.ok)
    throw new UnauthorizedError(
      check.reason === 'expired' ? 'Token expired' : 'Could not validate credentials',
    );
  // A forged token can carry any `sub`; only a UUID may reach the query.
  if (!UUID.test(check.userId)) throw new UnauthorizedError('Could not validate credentials');
  const user = await findUserById(await db(), check.userId);
  if (!user) throw new UnauthorizedError('Could not validate credentials');
  if (user.token_version !== check.version) throw new UnauthorizedError('Token revoked');
  if (!user.is_active) throw new ForbiddenError('Inactive user');
  if (level === 'superuser' && !user.is_superuser)
    throw new ForbiddenError("The user doesn't have enough privileges");
  return user;
}
