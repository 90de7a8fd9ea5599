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
