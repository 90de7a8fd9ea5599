import * as z from 'zod';

/**
 * Run a recurring task for one firing. Scheduler sends it with `scheduled_for` set to
 * `<aws.scheduler.scheduled-time>`; the local runtime and `POST …/run` send the same shape.
 * A run is keyed by (task_id, scheduled_for): a duplicated firing makes no second run.
 */
export const RunTask = z.object({
  kind: z.literal('run_task'),
  task_id: z.uuid(),
  scheduled_for: z.iso.datetime({ offset: true }),
  trigger: z.enum(['schedule', 'manual']).default('schedule'),
});

/** The maintenance sweep: find work that stopped moving and send it again. */
export const Maintenance = z.object({ kind: z.literal('maintenance') });

/** A job ended: the recurring task's run waiting on it settles with the job's outcome. */
export const JobFinished = z.object({ kind: z.literal('job_finished'), job_id: z.uuid() });

/** Lifecycle events are waiting in the outbox: publish them (lib/events/outbox.ts). */
export const PublishEvents = z.object({ kind: z.literal('publish_events') });

/** One try at delivering an event to a webhook (retries are this message again, later). */
export const DeliverWebhook = z.object({
  kind: z.literal('deliver_webhook'),
  webhook_id: z.uuid(),
  event_id: z.uuid(),
  attempt: z.number().int().min(1),
});

export const TaskMessage = z.discriminatedUnion('kind', [
  RunTask,
  Maintenance,
  JobFinished,
  PublishEvents,
  DeliverWebhook,
]);
export type PublishEvents = z.output<typeof PublishEvents>;
export type DeliverWebhook = z.output<typeof DeliverWebhook>;
export type JobFinished = z.output<typeof JobFinished>;
export type TaskMessage = z.output<typeof TaskMessage>;
export type RunTask = z.output<typeof RunTask>;

/** The placeholder Scheduler replaces with the firing's scheduled time in a target's input. */
export const SCHEDULED_TIME = '<aws.scheduler.scheduled-time>';

/** The target input of a task's schedule, as Scheduler stores it. */
export function runTaskInput(taskId: string): string {
  return JSON.stringify({ kind: 'run_task', task_id: taskId, scheduled_for: SCHEDULED_TIME });
}
