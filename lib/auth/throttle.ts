import { createHash } from 'node:crypto';
import { sql } from 'kysely';
import type { ThrottleLimits } from '#lib/config.ts';
import type { Db } from '#lib/db/database.ts';

/** One counter: attempts of a kind (e.g. `login_email`) for one key (an email, an address). */
export type ThrottleKey = { kind: string; key: string; limit: number };

export type ThrottleOutcome = { ok: true; attemptIds: string[] } | { ok: false; retryAfterSeconds: number };

/**
 * The keys an attempt of `prefix` (`login`, `recovery`) counts against: the email (as the
 * user table spells it), and the client's address when known.
 */
export function throttleKeys(
  prefix: string,
  email: string,
  address: string | undefined,
  limits: ThrottleLimits,
): ThrottleKey[] {
  const keys: ThrottleKey[] = [
    { kind: `${prefix}_email`, key: email.trim().toLowerCase(), limit: limits.perEmail },
  ];
  if (address) keys.push({ kind: `${prefix}_address`, key: address, limit: limits.perAddress });
  return keys;
}

// Keys are stored digested: the table holds no emails or addresses, and any input fits.
const digest = (key: string) => createHash('sha256').update(key).digest('hex');

// Old rows of keys never seen again are pruned now and then, not on every attempt.
const PRUNE_ONE_IN = 50;

/**
 * Counts an attempt against every key, or refuses it when any key has reached its limit within
 * the last `windowSeconds` (a sliding window, counted in Postgres so every Lambda instance
 * shares it). A refused attempt is not counted, so a locked key opens again when its oldest
 * attempt leaves the window, whatever an attacker keeps sending; `retryAfterSeconds` says when.
 * Race-safe: the keys are locked (transaction-scoped advisory locks, in a fixed order) while
 * counted and recorded, so concurrent attempts cannot all slip under the limit.
 *
 * @example const t = await takeAttempt(db, [{ kind: 'login_email', key: email, limit: 10 }], 900);
 */
export async function takeAttempt(
  db: Db,
  keys: ThrottleKey[],
  windowSeconds: number,
): Promise<ThrottleOutcome> {
  const counted = keys
    .map((k) => ({ ...k, hash: digest(k.key) }))
    .sort((a, b) => `${a.kind}:${a.hash}`.localeCompare(`${b.kind}:${b.hash}`));
  const window = sql<Date>`clock_timestamp() - make_interval(secs => ${windowSeconds})`;
  return db.transaction().execute(async (trx) => {
    // A burst from one address (an office behind one NAT) queues on that key's lock: each
    // holder is a few queries, but fifteen in a row on a busy database pass the API's 2 s
    // lock timeout, and a login would answer 503 where it should be checked.
    await sql`SET LOCAL lock_timeout = '8s'`.execute(trx);
    let retryAfterSeconds = 0;
    for (const k of counted) {
      await sql`SELECT pg_advisory_xact_lock(hashtextextended(${`auth_attempts:${k.kind}:${k.hash}`}, 0))`.execute(
        trx,
      );
      const { count, retry } = await trx
        .selectFrom('auth_attempts')
        .select((eb) => [
          eb.fn.countAll<string>().as('count'),
          // When the oldest attempt leaves the window, in whole seconds (at least 1).
          sql<string>`ceil(extract(epoch from (min(created_at) + make_interval(secs => ${windowSeconds}) - clock_timestamp())))`.as(
            'retry',
          ),
        ])
        .where('kind', '=', k.kind)
        .where('key_hash', '=', k.hash)
        .where('created_at', '>', window)
        .executeTakeFirstOrThrow();
      if (Number(count) >= k.limit) retryAfterSeconds = Math.max(retryAfterSeconds, Number(retry), 1);
    }
    if (retryAfterSeconds > 0) return { ok: false as const, retryAfterSeconds };
    const rows = await trx
      .insertInto('auth_attempts')
      .values(counted.map((k) => ({ kind: k.kind, key_hash: k.hash })))
      .returning('id')
      .execute();
    if (Math.random() * PRUNE_ONE_IN < 1) {
      await trx
        .deleteFrom('auth_attempts')
        .where('kind', 'in', [...new Set(counted.map((k) => k.kind))])
        .where('created_at', '<=', window)
        .execute();
    }
    return { ok: true as const, attemptIds: rows.map((r) => String(r.id)) };
  });
}

/** Takes recorded attempts back (a login that succeeded is not a failure to count). */
export async function forgetAttempts(db: Db, attemptIds: string[]): Promise<void> {
  if (attemptIds.length === 0) return;
  await db.deleteFrom('auth_attempts').where('id', 'in', attemptIds).execute();
}
