import type { Schedule } from '#lib/schedule/expression.ts';

/** What a task's schedule must be: its expression, time zone and whether it fires. */
export type TaskSchedule = Schedule & { taskId: string; enabled: boolean };

/**
 * Keeps one schedule per recurring task where the platform's scheduler lives: EventBridge
 * Scheduler in aws (and on LocalStack or moto, which store schedules without firing them);
 * locally, nothing to keep, since the local runtime evaluates the tasks table itself.
 * Every call is idempotent: `put` creates or updates; `disable` (what the workers do on an
 * auto-pause) and `remove` are content with a schedule that is not there.
 */
export interface TaskScheduler {
  put(schedule: TaskSchedule): Promise<void>;
  disable(schedule: Omit<TaskSchedule, 'enabled'>): Promise<void>;
  remove(taskId: string): Promise<void>;
}

/** The local platform's scheduler: the tasks table is the schedule (lib/local/scheduler.ts). */
export class TableTaskScheduler implements TaskScheduler {
  async put(): Promise<void> {}
  async disable(): Promise<void> {}
  async remove(): Promise<void> {}
}
