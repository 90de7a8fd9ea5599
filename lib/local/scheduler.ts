import { GetScheduleCommand, ListSchedulesCommand, type SchedulerClient } from '@aws-sdk/client-scheduler';
import { sql } from 'kysely';
import type { Db } from '#lib/db/database.ts';
import { logger } from '#lib/logger.ts';
import type { QueueSender } from '#lib/ports/queue/queue.ts';
import { fireTimesBetween, type Schedule } from '#lib/schedule/expression.ts';
import { type RunTask, SCHEDULED_TIME } from '#lib/schedule/messages.ts';
import { scheduleOf } from '#lib/services/recurring-tasks.ts';

/** Where the schedules live: the tasks table (local), or an emulator's Scheduler API (aws). */
export type ScheduleSource =
  | { kind: 'table'; db: Db; taskQueue: string }
  | { kind: 'scheduler'; client: SchedulerClient; group: string };

export type LocalSchedulerOptions = {
  source: ScheduleSource;
  queue: QueueSender;
  /** The queue of maintenance sweeps (the task queue). */
  taskQueue: string;
  /** How often to look for due firings; 0 = never on its own (tests call tick). */
  tickMs: number;
  /** How often to send a maintenance sweep; 0 = never. */
  maintenanceMs: number;
};

export type LocalScheduler = {
  /** Sends every firing due up to `now` since the last tick. */
  tick(now?: Date): Promise<void>;
  stop(): Promise<void>;
};

/** Firings sent for one schedule in one tick at most: a clock jump must not flood the queue. */
const MAX_FIRINGS_PER_TICK = 10;

/** Scheduler's rendering of `<aws.scheduler.scheduled-time>`: ISO 8601 in UTC, whole seconds. */
function scheduledTime(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/**
 * Plays EventBridge Scheduler for the local runtime. On `local` the tasks table is the
 * schedule: each tick sends a `run_task` for every due firing of an active task, and the first
 * tick sends the latest firing missed while the process was down (once, not one per missed
 * time). On `aws` against an emulator, which stores schedules without firing them, it reads the
 * schedules back (ListSchedules, GetSchedule) and sends each due one's own target input to its
 * own target queue, so what the real adapter wrote is what runs. It also sends the periodic
 * maintenance sweep, as the stack's maintenance schedule does in AWS.
 */
export function startLocalScheduler(options: LocalSchedulerOptions): LocalScheduler {
  let previous: Date | undefined;
  let ticking: Promise<void> = Promise.resolve();
  const started = new Date();

  const fire = async (now: Date) => {
    const since = previous;
    previous = now;
    if (options.source.kind === 'table') await fireTasks(options.source, options.queue, since, now);
    else await fireSchedules(options.source, options.queue, since ?? started, now);
  };
  const tick = (now = new Date()) => {
    // One tick at a time, in order: a tick's window starts where the previous one ended.
    ticking = ticking.then(() =>
      fire(now).catch((error) => logger.warn('Scheduler tick failed', { error: (error as Error).message })),
    );
    return ticking;
  };
  const timers = [
    options.tickMs > 0 && setInterval(() => void tick(), options.tickMs),
    options.maintenanceMs > 0 &&
      setInterval(
        () =>
          void options.queue
            .send(options.taskQueue, [{ kind: 'maintenance' }])
            .catch((error) => logger.warn('Maintenance sweep not sent', { error: (error as Error).message })),
        options.maintenanceMs,
      ),
  ].filter((t): t is NodeJS.Timeout => t !== false);
  for (const timer of timers) timer.unref();
  if (options.tickMs > 0) void tick();
  return {
    tick,
    stop: async () => {
      for (const timer of timers) clearInterval(timer);
      await ticking;
    },
  };
}

async function fireTasks(
  source: Extract<ScheduleSource, { kind: 'table' }>,
  queue: QueueSender,
  since: Date | undefined,
  now: Date,
): Promise<void> {
  const tasks = await source.db
    .selectFrom('recurring_tasks as t')
    .select([
      't.id',
      't.schedule_expression',
      't.timezone',
      't.schedule_anchor',
      (eb) =>
        eb
          .selectFrom('task_runs as r')
          .select(sql<Date>`max(r.scheduled_for)`.as('last'))
          .whereRef('r.task_id', '=', 't.id')
          .where('r.trigger', '=', 'schedule')
          .as('last_fired'),
    ])
    .where('t.status', '=', 'active')
    .execute();
  const messages: RunTask[] = [];
  for (const task of tasks) {
    const schedule = scheduleOf(task);
    if (since) {
      const due = fireTimesBetween(schedule, since, now, task.schedule_anchor, MAX_FIRINGS_PER_TICK);
      messages.push(...due.map((time) => runTask(task.id, time)));
      continue;
    }
    // At start: the latest firing missed since the last one this task had, if any.
    const from = latest(task.last_fired, task.schedule_anchor);
    const missed = fireTimesBetween(schedule, from, now, task.schedule_anchor, 10_000).at(-1);
    if (missed) messages.push(runTask(task.id, missed));
  }
  if (messages.length > 0) await queue.send(source.taskQueue, messages);
}

function latest(a: Date | null, b: Date): Date {
  return a && a > b ? a : b;
}

function runTask(taskId: string, time: Date): RunTask {
  return { kind: 'run_task', task_id: taskId, scheduled_for: scheduledTime(time), trigger: 'schedule' };
}

async function fireSchedules(
  source: Extract<ScheduleSource, { kind: 'scheduler' }>,
  queue: QueueSender,
  since: Date,
  now: Date,
): Promise<void> {
  let token: string | undefined;
  do {
    const page = await source.client.send(
      new ListSchedulesCommand({ GroupName: source.group, State: 'ENABLED', NextToken: token }),
    );
    token = page.NextToken;
    for (const summary of page.Schedules ?? []) {
      const detail = await source.client.send(
        new GetScheduleCommand({ GroupName: source.group, Name: summary.Name }),
      );
      const target = detail.Target;
      if (detail.State !== 'ENABLED' || !detail.ScheduleExpression || !target?.Arn || !target.Input) continue;
      const schedule: Schedule = {
        expression: detail.ScheduleExpression,
        timezone: detail.ScheduleExpressionTimezone ?? 'UTC',
      };
      const anchor = detail.LastModificationDate ?? detail.CreationDate ?? since;
      const due = fireTimesBetween(schedule, since, now, anchor, MAX_FIRINGS_PER_TICK);
      // The queue by its name, the ARN's last part (arn:aws:sqs:region:account:name).
      const queueName = target.Arn.split(':').at(-1)!;
      const bodies = due.map((time) =>
        JSON.parse(target.Input!.replaceAll(SCHEDULED_TIME, scheduledTime(time))),
      );
      if (bodies.length > 0) await queue.send(queueName, bodies);
    }
  } while (token);
}
