import { createHash, randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import { hashPassword } from '#lib/auth/passwords.ts';
import { takeAttempt, throttleKeys } from '#lib/auth/throttle.ts';
import type { ThrottleLimits } from '#lib/config.ts';
import type { Db } from '#lib/db/database.ts';
import { RefusedError, TooManyRequestsError } from '#lib/errors.ts';
import type { MailOutbox } from '#lib/ports/mail/index.ts';
import { assertPasswordAllowed, findUserByEmail } from './users.ts';

export const RECOVERY_SENT = 'If that email is registered, a password recovery email has been sent';

function digest(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

/**
 * Mails a single-use reset link to an active user. Unknown or inactive emails get no mail and
 * the caller answers the same either way, so the endpoint does not reveal who has an account.
 * Requests are throttled per email and per client address (429 with `Retry-After`), counted
 * before the email is looked up, so unknown emails are throttled exactly like known ones.
 */
export async function requestPasswordReset(
  db: Db,
  outbox: MailOutbox,
  email: string,
  options: {
    frontendUrl: string;
    expireMinutes: number;
    client: { address: string | undefined };
    throttle: ThrottleLimits;
  },
): Promise<void> {
  const attempt = await takeAttempt(
    db,
    throttleKeys('recovery', email, options.client.address, options.throttle),
    options.throttle.windowSeconds,
  );
  if (!attempt.ok) {
    throw new TooManyRequestsError(
      `Too many password recovery requests; try again in ${attempt.retryAfterSeconds} s`,
      attempt.retryAfterSeconds,
    );
  }
  const user = await findUserByEmail(db, email);
  if (!user?.is_active) return;
  const token = randomBytes(32).toString('base64url');
  await db
    .insertInto('password_reset_tokens')
    .values({
      token_hash: digest(token),
      user_id: user.id,
      expires_at: new Date(Date.now() + options.expireMinutes * 60_000),
    })
    .execute();
  const link = `${options.frontendUrl.replace(/\/$/, '')}/reset-password?token=${token}`;
  await outbox.send({
    to: user.email,
    subject: 'docsift - Password recovery',
    text: `Someone asked to reset the password of ${user.email}.\n\nReset it here within ${options.expireMinutes} minutes: ${link}\n\nIf that was not you, ignore this mail.`,
  });
}

/**
 * Sets a new password with a reset token. The token is spent in the same transaction, so it
 * works once; expired, spent and unknown tokens are all "Invalid token".
 */
export async function resetPassword(db: Db, token: string, newPassword: string): Promise<void> {
  // The policy weighs the password against the user's email, so find whose token it is first;
  // a refused password leaves the token unspent, to try again with a better one.
  const owner = await db
    .selectFrom('password_reset_tokens')
    .innerJoin('users', 'users.id', 'password_reset_tokens.user_id')
    .select('users.email')
    .where('token_hash', '=', digest(token))
    .where('used_at', 'is', null)
    .where('expires_at', '>', sql<Date>`clock_timestamp()`)
    .executeTakeFirst();
  if (!owner) throw new RefusedError('Invalid token');
  await assertPasswordAllowed(newPassword, owner.email, 'new_password');
  const hashed = await hashPassword(newPassword);
  await db.transaction().execute(async (trx) => {
    const spent = await trx
      .updateTable('password_reset_tokens')
      .set({ used_at: sql<Date>`clock_timestamp()` })
      .where('token_hash', '=', digest(token))
      .where('used_at', 'is', null)
      .where('expires_at', '>', sql<Date>`clock_timestamp()`)
      .returning('user_id')
      .executeTakeFirst();
    if (!spent) throw new RefusedError('Invalid token');
    const user = await trx
      .updateTable('users')
      // Revokes every access token issued before the reset (one may be what was stolen).
      .set((eb) => ({ hashed_password: hashed, token_version: eb('token_version', '+', 1) }))
      .where('id', '=', spent.user_id)
      .where('is_active', '=', true)
      .returning('id')
      .executeTakeFirst();
    if (!user) throw new RefusedError('Inactive user');
    // Any other outstanding link for this user dies with this reset.
    await trx
      .updateTable('password_reset_tokens')
      .set({ used_at: sql<Date>`clock_timestamp()` })
      .where('user_id', '=', spent.user_id)
      .where('used_at', 'is', null)
      .execute();
  });
}
