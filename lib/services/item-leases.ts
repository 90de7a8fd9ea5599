import { sql } from 'kysely';
import type { Db } from '#lib/db/database.ts';

/** A work item of a job: one record with one scheme. */
export type ItemKey = { record_id: string; scheme_id: string };

/**
 * How long a claim on an item lasts unless renewed. The holder renews it every third of this
 * while it works, so only a holder that died (or lost the database for that long) loses it.
 */
export const LEASE_SECONDS = 60;

/** The items as two parallel arrays, for `unnest`: exact (record, scheme) pairs, never their cross product. */
function pairs(items: readonly ItemKey[]) {
  return sql`unnest(${items.map((i) => i.record_id)}::uuid[], ${items.map((i) => i.scheme_id)}::uuid[])`;
}

/**
 * Claims the pending items among `items` that no live lease holds: each gets `owner` as its
 * holder until `seconds` from now, and one more attempt. One `UPDATE`, so of deliveries racing
 * for an item exactly one wins it: the others wait for its row, then see the new lease and pass.
 * Also answers the pending items someone else holds, with the seconds left on their leases (the
 * caller sends those again for later); items no longer pending are neither. Only items of
 * `batchId` (the collector of a provider batch), or by default in no batch (the online worker):
 * an item out in a batch is neither claimed nor held for the online worker.
 *
 * @example const { claimed, held } = await claimItems(db, job.id, message.items, newId(), LEASE_SECONDS)
 */
export async function claimItems(
  db: Db,
  jobId: string,
  items: readonly ItemKey[],
  owner: string,
  seconds: number,
  batchId?: string,
): Promise<{ claimed: ItemKey[]; held: (ItemKey & { seconds_left: number })[] }> {
  const batch = sql`i.batch_id IS NOT DISTINCT FROM ${batchId ?? null}::uuid`;
  const { rows: claimed } = await sql<ItemKey>`
    UPDATE classification_items i
    SET attempts = i.attempts + 1, lease_owner = ${owner},
        lease_expires_at = clock_timestamp() + make_interval(secs => ${seconds})
    FROM ${pairs(items)} AS m(record_id, scheme_id)
    WHERE i.job_id = ${jobId} AND i.record_id = m.record_id AND i.scheme_id = m.scheme_id
      AND i.status = 'pending' AND ${batch}
      AND (i.lease_expires_at IS NULL OR i.lease_expires_at <= clock_timestamp())
    RETURNING i.record_id, i.scheme_id`.execute(db);
  if (claimed.length === items.length) return { claimed, held: [] };
  // Pending and not ours: held by a live lease (or one that ran out just now; sent again soon).
  const { rows: held } = await sql<ItemKey & { seconds_left: number }>`
    SELECT i.record_id, i.scheme_id,
           greatest(0, extract(epoch FROM i.lease_expires_at - clock_timestamp()))::float8 AS seconds_left
    FROM classification_items i JOIN ${pairs(items)} AS m(record_id, scheme_id)
      ON i.record_id = m.record_id AND i.scheme_id = m.scheme_id
    WHERE i.job_id = ${jobId} AND i.status = 'pending' AND ${batch}
      AND i.lease_owner IS DISTINCT FROM ${owner}`.execute(db);
  return { claimed, held };
}

/** The items `owner` holds among `items`, still pending. */
function heldBy(db: Db, jobId: string, owner: string, items: readonly ItemKey[]) {
  return db
    .updateTable('classification_items')
    .where('job_id', '=', jobId)
    .where(sql<boolean>`record_id = any(${[...new Set(items.map((i) => i.record_id))]}::uuid[])`)
    .where(sql<boolean>`scheme_id = any(${[...new Set(items.map((i) => i.scheme_id))]}::uuid[])`)
    .where('lease_owner', '=', owner)
    .where('status', '=', 'pending');
}

/** Extends `owner`'s leases on the items it still holds by `seconds` from now (the heartbeat). */
export async function renewLeases(
  db: Db,
  jobId: string,
  owner: string,
  items: readonly ItemKey[],
  seconds: number,
): Promise<void> {
  await heldBy(db, jobId, owner, items)
    .set({ lease_expires_at: sql<Date>`clock_timestamp() + make_interval(secs => ${seconds})` })
    .execute();
}

/** Gives up `owner`'s leases on the items still pending, so the next delivery takes them at once. */
export async function releaseLeases(
  db: Db,
  jobId: string,
  owner: string,
  items: readonly ItemKey[],
): Promise<void> {
  await heldBy(db, jobId, owner, items).set({ lease_owner: null, lease_expires_at: null }).execute();
}

/**
 * Frees every lease on a pending item: for the local runtime's start, which owns its database's
 * queues, so whatever holds a lease there is a process that died.
 */
export async function releaseAllLeases(db: Db): Promise<number> {
  const released = await db
    .updateTable('classification_items')
    .set({ lease_owner: null, lease_expires_at: null })
    .where('lease_owner', 'is not', null)
    .where('status', '=', 'pending')
    .executeTakeFirst();
  return Number(released.numUpdatedRows);
}
