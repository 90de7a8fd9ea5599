import { forgetAttempts, takeAttempt, throttleKeys } from '#lib/auth/throttle.ts';
import type { ThrottleLimits } from '#lib/config.ts';
import type { Db } from '#lib/db/database.ts';
import { TooManyRequestsError } from '#lib/errors.ts';
import { type AuthResult, authenticate } from './users.ts';

/**
 * Checks a login under throttling: failed attempts are counted per email and per client
 * address, and once either reaches its limit within the window every attempt, the right
 * password included, is a 429 with `Retry-After` until the oldest failure leaves the window.
 * Unknown emails are counted like known ones, so the 429 tells nothing about who has an account.
 */
export async function logIn(
  db: Db,
  credentials: { email: string; password: string },
  client: { address: string | undefined },
  limits: ThrottleLimits,
): Promise<AuthResult> {
  const attempt = await takeAttempt(
    db,
    throttleKeys('login', credentials.email, client.address, limits),
    limits.windowSeconds,
  );
  if (!attempt.ok) {
    throw new TooManyRequestsError(
      `Too many failed login attempts; try again in ${attempt.retryAfterSeconds} s`,
      attempt.retryAfterSeconds,
    );
  }
  const result = await authenticate(db, credentials.email, credentials.password);
  // The attempt was recorded before the check so that concurrent guesses count; only a right
  // password (of an active user or not) takes it back.
  if (result.ok || result.error === 'inactive') await forgetAttempts(db, attempt.attemptIds);
  return result;
}
