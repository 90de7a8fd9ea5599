import { createHash, randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import { hashPassword } from '#lib/auth/passwords.ts';
import { takeAttempt, throttleKeys } from '#lib/auth/throttle.ts';
import type { ThrottleLimits } from '#lib/config.ts';
import type { Db } from '#lib/db/database.ts';
import { NotFoundError, RefusedError, TooManyRequestsError } from '#lib/errors.ts';
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
  const mail = recoveryMail(user.email, link, options.expireMinutes);
  await outbox.send({ to: user.email, subject: mail.subject, text: mail.text });
}

const escapeHtml = (text: string) => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** The recovery mail to an address with a link: its subject, its text, and the text as HTML. */
export function recoveryMail(email: string, link: string, expireMinutes: number) {
  const subject = 'docsift - Password recovery';
  const text = `Someone asked to reset the password of ${email}.\n\nReset it here within ${expireMinutes} minutes: ${link}\n\nIf that was not you, ignore this mail.`;
  const html = `<!doctype html><html><head><meta charset="utf-8"><title>${escapeHtml(subject)}</title></head><body>${text
    .split('\n\n')
    .map(
      (p) =>
        `<p>${escapeHtml(p).replace(escapeHtml(link), `<a href="${escapeHtml(link)}">${escapeHtml(link)}</a>`)}</p>`,
    )
    .join('')}</body></html>`;
  return { subject, text, html };
}

/** The link a preview shows: the reset page without a token, since a preview must not grant one. */
export const PREVIEW_TOKEN = 'PREVIEW-NOT-A-TOKEN';

/**
 * The recovery mail a user would get, as HTML, for superusers to check (the reference system's
 * preview). Its link holds no working token. An unknown email is a 404.
 */
export async function recoveryMailPreview(
  db: Db,
  email: string,
  options: { frontendUrl: string; expireMinutes: number },
): Promise<string> {
  const user = await findUserByEmail(db, email);
  if (!user) throw new NotFoundError('No user with this email');
  const link = `${options.frontendUrl.replace(/\/$/, '')}/reset-password?token=${PREVIEW_TOKEN}`;
  return recoveryMail(user.email, link, options.expireMinutes).html;
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
