import type { Logger } from '@aws-lambda-powertools/logger';
import { sql } from 'kysely';
import { config } from '#lib/config.ts';
import type { Db } from '#lib/db/database.ts';
import {
  type DeleteDatasource,
  type DeleteWorkspace,
  datasourceFolder,
  workspaceFolder,
} from '#lib/ingest/messages.ts';
import { logger } from '#lib/logger.ts';
import { type Platform, platform } from '#lib/platform.ts';
import type { ObjectStore } from '#lib/ports/objects/store.ts';
import type { QueueSender } from '#lib/ports/queue/queue.ts';

/**
 * Deleting at scale. A delete cascades row by row through a datasource's records and whatever
 * hangs off them (search documents, classification items and results, dataset members): a
 * million records take about half a minute, past an API request's 10 s statement budget. So a
 * datasource or workspace of more than {@link DELETE_INLINE_MAX_RECORDS} records is marked in
 * the request (a datasource `status: deleting`, a workspace `deleted_at`: gone for its owner at
 * once) and the ingest worker deletes its records a chunk per transaction, chaining messages
 * as `index_search` does, then its row and its files. Every step is idempotent: a redelivered
 * message deletes what is left, a lost one is sent again by the maintenance sweep.
 */

/** Datasources and workspaces of at most this many records are deleted in the request (bench/delete.ts). */
export const DELETE_INLINE_MAX_RECORDS = 20_000;
/** Records a background delete takes per transaction: a statement of a few seconds at most. */
export const DELETE_CHUNK_RECORDS = 5_000;
/** How long one message deletes before it chains the next: far inside the worker's 10 minutes. */
const DELETE_BUDGET_MS = 60_000;

/** What a delete request needs besides the database: where to send the background work, and the threshold. */
export type DeleteDeps = {
  adapters: Pick<Platform, 'queue' | 'objects'>;
  ingestQueue: string;
  inlineMaxRecords: number;
};

/** {@link DeleteDeps} of the process (its adapters and config). */
export function defaultDeleteDeps(): DeleteDeps {
  const c = config();
  return { adapters: platform(), ingestQueue: c.ingestQueue, inlineMaxRecords: c.deleteInlineMaxRecords };
}

/**
 * Whether deleting these workspaces' (or this datasource's) rows fits in a request: few enough
 * records, and none being written by a run (its uncommitted records hold the row; the delete
 * would wait for the run) or already being deleted in the background.
 */
export async function fitsInline(
  db: Db,
  scope: { workspaceIds: string[] } | { datasourceId: string },
  inlineMaxRecords: number,
): Promise<boolean> {
  if ('workspaceIds' in scope && scope.workspaceIds.length === 0) return true;
  const { records, busy, deleted } = await db
    .selectFrom('datasources')
    .select([
      sql<number>`coalesce(sum(record_count), 0)::bigint`.as('records'),
      sql<boolean>`coalesce(bool_or(status IN ('processing', 'deleting')), false)`.as('busy'),
      'workspaceIds' in scope
        ? sql<boolean>`exists (SELECT 1 FROM workspaces WHERE id = any(${scope.workspaceIds}::uuid[]) AND deleted_at IS NOT NULL)`.as(
            'deleted',
          )
        : sql<boolean>`false`.as('deleted'),
    ])
    .$if('workspaceIds' in scope, (q) =>
      q.where(
        sql<boolean>`workspace_id = any(${(scope as { workspaceIds: string[] }).workspaceIds}::uuid[])`,
      ),
    )
    .$if('datasourceId' in scope, (q) => q.where('id', '=', (scope as { datasourceId: string }).datasourceId))
    .executeTakeFirstOrThrow();
  return Number(records) <= inlineMaxRecords && !busy && !deleted;
}

/**
 * Marks workspaces deleted (gone for everyone from now on) and their datasources `deleting` (a
 * run in flight over one stops at its next check), in the caller's transaction; their jobs still
 * going are cancelled, so no model is called for records about to go (the classify worker stops
 * at a job no longer running; the sweep cancels its open provider batches). Answers the
 * workspaces it marked.
 */
export async function markWorkspacesDeleted(trx: Db, workspaceIds: string[]): Promise<string[]> {
  if (workspaceIds.length === 0) return [];
  const marked = await trx
    .updateTable('workspaces')
    .set({ deleted_at: sql<Date>`now()` })
    .where(sql<boolean>`id = any(${workspaceIds}::uuid[])`)
    .where('deleted_at', 'is', null)
    .returning('id')
    .execute();
  await trx
    .updateTable('datasources')
    .set({ status: 'deleting' })
    .where(sql<boolean>`workspace_id = any(${workspaceIds}::uuid[])`)
    .where('status', '!=', 'deleting')
    .execute();
  await trx
    .updateTable('classification_jobs')
    .set({ status: 'cancelled', finished_at: sql<Date>`clock_timestamp()` })
    .where(sql<boolean>`workspace_id = any(${workspaceIds}::uuid[])`)
    .where('status', 'in', ['pending', 'running'])
    .execute();
  return marked.map((w) => w.id);
}

/**
 * Sends the messages of deletes marked and committed. Lost (the queue refused), the maintenance
 * sweep sends them again for rows left marked: the answer stays a success.
 */
export async function sendDeletes(
  deps: Pick<DeleteDeps, 'adapters' | 'ingestQueue'>,
  messages: (DeleteDatasource | DeleteWorkspace)[],
): Promise<void> {
  if (messages.length === 0) return;
  await deps.adapters.queue
    .send(deps.ingestQueue, messages)
    .catch((error: Error) => logger.warn('Delete not queued; the maintenance sweep sends it', { error }));
}

// --- The worker's side ------------------------------------------------------------------------

export type DeleteWorkerDeps = {
  db: Db;
  objects: ObjectStore;
  queue: QueueSender;
  log: Logger;
  settings: {
    ingestQueue: string;
    /** Records per transaction ({@link DELETE_CHUNK_RECORDS}). */
    deleteChunkRecords?: number;
    /** Milliseconds a message deletes before chaining the next (tests lower it to chain at every chunk). */
    deleteBudgetMs?: number;
  };
};

type Owner = { datasourceId: string } | { workspaceId: string };

/**
 * Deletes up to `size` records of a datasource or a workspace after the id `after`, with what
 * cascades from them, in one statement (one transaction); a datasource's `record_count` goes
 * down with them (progress, and the row's `updated_at` tells the sweep the delete moves).
 * Answers how many went and the last id. Keyset from `after`: each chunk starting at the front
 * would step over the index entries of every chunk before it, dead until vacuumed.
 */
async function deleteRecordChunk(
  db: Db,
  owner: Owner,
  size: number,
  after: string | undefined,
): Promise<{ deleted: number; last: string | null }> {
  const where =
    'datasourceId' in owner
      ? sql`datasource_id = ${owner.datasourceId}`
      : sql`workspace_id = ${owner.workspaceId}`;
  const from = after === undefined ? sql`` : sql`AND id > ${after}`;
  const { rows } = await sql<{ deleted: number; last: string | null }>`
    WITH gone AS (
      DELETE FROM records WHERE id IN (SELECT id FROM records WHERE ${where} ${from} ORDER BY id LIMIT ${size})
      RETURNING id, datasource_id
    ), counted AS (
      UPDATE datasources d SET record_count = greatest(d.record_count - g.n, 0)
      FROM (SELECT datasource_id, count(*)::int AS n FROM gone GROUP BY datasource_id) g
      WHERE d.id = g.datasource_id
    )
    SELECT (SELECT count(*)::int FROM gone) AS deleted, (SELECT id FROM gone ORDER BY id DESC LIMIT 1) AS last`.execute(
    db,
  );
  return rows[0]!;
}

/**
 * Deletes records chunk by chunk from `after` on, until none are left (`done`) or the message's
 * time is up (the cursor to go on from). The end of the keyset is not proof of the end: a
 * duplicate delivery may have taken rows from under this one, or a record below the cursor was
 * written late, so it is looked up, and the keyset starts over if any is left.
 */
async function deleteRecords(
  deps: DeleteWorkerDeps,
  owner: Owner,
  after: string | undefined,
): Promise<{ done: true } | { done: false; after: string | undefined }> {
  const size = deps.settings.deleteChunkRecords ?? DELETE_CHUNK_RECORDS;
  const deadline = Date.now() + (deps.settings.deleteBudgetMs ?? DELETE_BUDGET_MS);
  let cursor = after;
  for (;;) {
    const chunk = await deleteRecordChunk(deps.db, owner, size, cursor);
    cursor = chunk.last ?? cursor;
    if (chunk.deleted < size) {
      if (!(await hasRecords(deps.db, owner))) return { done: true };
      cursor = undefined;
    }
    if (Date.now() >= deadline) return { done: false, after: cursor };
  }
}

async function hasRecords(db: Db, owner: Owner): Promise<boolean> {
  const found = await db
    .selectFrom('records')
    .select('id')
    .$if('datasourceId' in owner, (q) =>
      q.where('datasource_id', '=', (owner as { datasourceId: string }).datasourceId),
    )
    .$if('workspaceId' in owner, (q) =>
      q.where('workspace_id', '=', (owner as { workspaceId: string }).workspaceId),
    )
    .limit(1)
    .executeTakeFirst();
  return found !== undefined;
}

/**
 * Waits, in the caller's transaction, until no run of these datasources is writing: a run holds
 * its datasource's advisory lock for its whole transaction (syncRecords), and one of a datasource
 * marked `deleting` stops at its next check and rolls back. Deleting the row while it wrote
 * would wait on its records' row locks instead, and deadlock with the run's own final lock.
 */
async function waitForRuns(trx: Db, datasourceIds: string[]): Promise<void> {
  for (const id of datasourceIds) await lockDatasourceRun(trx, id);
}

/**
 * Takes the advisory lock of a datasource's run until the caller's transaction ends: the run
 * holds it for its whole transaction, a background delete waits on it ({@link waitForRuns}).
 */
export async function lockDatasourceRun(trx: Db, datasourceId: string): Promise<void> {
  await sql`SELECT pg_advisory_xact_lock(hashtextextended(${datasourceId}, 0))`.execute(trx);
}

/**
 * One message of a datasource's background delete: its records, a chunk at a time, then (once
 * none are left) its row and its files. Out of time, it sends the next message. A redelivery
 * goes on from what is left; a message whose datasource is gone purges its folder again (a
 * crash may have come between the row and the files).
 */
export async function deleteDatasourceStep(deps: DeleteWorkerDeps, message: DeleteDatasource): Promise<void> {
  const folder = datasourceFolder(message.workspace_id, message.datasource_id);
  const source = await deps.db
    .selectFrom('datasources')
    .select(['id', 'status'])
    .where('id', '=', message.datasource_id)
    .executeTakeFirst();
  if (!source) return deps.objects.deletePrefix(folder);
  if (source.status !== 'deleting') {
    deps.log.warn('Delete of a datasource not marked deleting ignored', { datasource_id: source.id });
    return;
  }
  const outcome = await deleteRecords(deps, { datasourceId: source.id }, message.after);
  if (!outcome.done) {
    const next: DeleteDatasource = {
      kind: message.kind,
      datasource_id: message.datasource_id,
      workspace_id: message.workspace_id,
      ...(outcome.after && { after: outcome.after }),
    };
    await deps.queue.send(deps.settings.ingestQueue, [next]);
    return;
  }
  // What is left is small: failures, and records an append wrote meanwhile.
  await deps.db.transaction().execute(async (trx) => {
    await waitForRuns(trx, [source.id]);
    await trx
      .deleteFrom('datasources')
      .where('id', '=', source.id)
      .where('status', '=', 'deleting')
      .execute();
  });
  await deps.objects.deletePrefix(folder);
}

/**
 * One message of a workspace's background delete: the records of all its datasources, a chunk
 * at a time, then its row (what cascades from it is small once the records are gone), its
 * owner's row if the owner was deleted and this was their last workspace, and its files.
 */
export async function deleteWorkspaceStep(deps: DeleteWorkerDeps, message: DeleteWorkspace): Promise<void> {
  const touched = await deps.db
    .updateTable('workspaces')
    // A no-op change: the updated_at trigger tells the sweep this delete moves.
    .set((eb) => ({ deleted_at: eb.ref('deleted_at') }))
    .where('id', '=', message.workspace_id)
    .returning(['id', 'owner_id', 'deleted_at'])
    .executeTakeFirst();
  if (!touched) return deps.objects.deletePrefix(workspaceFolder(message.workspace_id));
  if (touched.deleted_at === null) {
    deps.log.warn('Delete of a workspace not marked deleted ignored', { workspace_id: touched.id });
    return;
  }
  const outcome = await deleteRecords(deps, { workspaceId: touched.id }, message.after);
  if (!outcome.done) {
    const next: DeleteWorkspace = {
      kind: message.kind,
      workspace_id: message.workspace_id,
      ...(outcome.after && { after: outcome.after }),
    };
    await deps.queue.send(deps.settings.ingestQueue, [next]);
    return;
  }
  await deps.db.transaction().execute(async (trx) => {
    // The owner first: two last workspaces finishing at once each see the other gone, in turn.
    await trx.selectFrom('users').select('id').where('id', '=', touched.owner_id).forUpdate().execute();
    const sources = await trx
      .selectFrom('datasources')
      .select('id')
      .where('workspace_id', '=', touched.id)
      .orderBy('id')
      .execute();
    await waitForRuns(
      trx,
      sources.map((s) => s.id),
    );
    await trx
      .deleteFrom('workspaces')
      .where('id', '=', touched.id)
      .where('deleted_at', 'is not', null)
      .execute();
    await trx
      .deleteFrom('users')
      .where('id', '=', touched.owner_id)
      .where('deleted_at', 'is not', null)
      .where((eb) =>
        eb.not(eb.exists(eb.selectFrom('workspaces').select('id').where('owner_id', '=', touched.owner_id))),
      )
      .execute();
  });
  await deps.objects.deletePrefix(workspaceFolder(touched.id));
}
