import { sql } from 'kysely';
import type { Db } from '#lib/db/database.ts';
import type { QueueSender } from '#lib/ports/queue/queue.ts';
import type { JobFinished } from '#lib/schedule/messages.ts';

/**
 * Tells the task queue that a job ended, when a recurring task's run is waiting on it, so the
 * run settles now rather than at the next maintenance sweep. Best effort: the sweep is the
 * backstop, so a refusing queue is not an error of the job's.
 */
export async function announceJobFinished(
  db: Db,
  queue: QueueSender,
  taskQueue: string,
  jobId: string,
): Promise<void> {
  const waiting = await db
    .selectFrom('task_runs')
    .select('id')
    .where('job_id', '=', jobId)
    .where('status', '=', 'running')
    .executeTakeFirst();
  if (!waiting) return;
  const message: JobFinished = { kind: 'job_finished', job_id: jobId };
  await queue.send(taskQueue, [message]).catch(() => undefined);
}

/** A job's items by outcome, for its lifecycle event. */
export async function itemCounts(db: Db, jobId: string): Promise<Record<string, number>> {
  const c = await db
    .selectFrom('classification_items')
    .select([
      sql<number>`count(*) FILTER (WHERE status = 'succeeded')::int`.as('succeeded'),
      sql<number>`count(*) FILTER (WHERE status = 'failed')::int`.as('failed'),
      sql<number>`count(*) FILTER (WHERE status = 'cancelled')::int`.as('cancelled'),
    ])
    .where('job_id', '=', jobId)
    .executeTakeFirstOrThrow();
  return { succeeded: c.succeeded, failed: c.failed, cancelled: c.cancelled };
}
