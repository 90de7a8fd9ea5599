import {
  ConflictException,
  CreateScheduleCommand,
  DeleteScheduleCommand,
  type FlexibleTimeWindowMode,
  ResourceNotFoundException,
  SchedulerClient,
  UpdateScheduleCommand,
} from '@aws-sdk/client-scheduler';
import { runTaskInput } from '#lib/schedule/messages.ts';
import type { TaskSchedule, TaskScheduler } from './scheduler.ts';

export type EventBridgeSchedulerSettings = {
  /** The stack's schedule group. */
  group: string;
  /** The queue every task schedule targets (the dispatcher's), by ARN. */
  targetArn: string;
  /** The role Scheduler assumes to send to that queue. */
  roleArn: string;
  /** Where Scheduler puts a firing it could not deliver after its retries. */
  deadLetterArn: string;
};

let shared: SchedulerClient | undefined;
/** The process's Scheduler client (AWS_ENDPOINT_URL points it at LocalStack or moto). */
export function schedulerClient(): SchedulerClient {
  shared ??= new SchedulerClient({});
  return shared;
}

/** The schedule's name: one per task, unique in the group. */
export function scheduleName(taskId: string): string {
  return `task-${taskId}`;
}

/** One EventBridge Scheduler schedule per task, in the stack's group, targeting the task queue. */
export class EventBridgeTaskScheduler implements TaskScheduler {
  /** `settings` may be a function: it is read on first use, so functions that never schedule need none. */
  constructor(
    private readonly settings: EventBridgeSchedulerSettings | (() => EventBridgeSchedulerSettings),
    private readonly client: SchedulerClient = schedulerClient(),
  ) {}

  private get resolved(): EventBridgeSchedulerSettings {
    return typeof this.settings === 'function' ? this.settings() : this.settings;
  }

  private input(schedule: TaskSchedule) {
    const settings = this.resolved;
    return {
      Name: scheduleName(schedule.taskId),
      GroupName: settings.group,
      ScheduleExpression: schedule.expression,
      ScheduleExpressionTimezone: schedule.timezone,
      State: schedule.enabled ? ('ENABLED' as const) : ('DISABLED' as const),
      FlexibleTimeWindow: { Mode: 'OFF' as FlexibleTimeWindowMode },
      Target: {
        Arn: settings.targetArn,
        RoleArn: settings.roleArn,
        Input: runTaskInput(schedule.taskId),
        RetryPolicy: { MaximumEventAgeInSeconds: 3600, MaximumRetryAttempts: 10 },
        DeadLetterConfig: { Arn: settings.deadLetterArn },
      },
    };
  }

  async put(schedule: TaskSchedule): Promise<void> {
    const input = this.input(schedule);
    try {
      await this.client.send(new UpdateScheduleCommand(input));
    } catch (error) {
      if (!(error instanceof ResourceNotFoundException)) throw error;
      try {
        await this.client.send(new CreateScheduleCommand(input));
      } catch (created) {
        // Created meanwhile by a concurrent put: update it to what this one says.
        if (!(created instanceof ConflictException)) throw created;
        await this.client.send(new UpdateScheduleCommand(input));
      }
    }
  }

  async disable(schedule: Omit<TaskSchedule, 'enabled'>): Promise<void> {
    try {
      await this.client.send(new UpdateScheduleCommand(this.input({ ...schedule, enabled: false })));
    } catch (error) {
      // A missing schedule fires no more than a disabled one.
      if (!(error instanceof ResourceNotFoundException)) throw error;
    }
  }

  async remove(taskId: string): Promise<void> {
    try {
      await this.client.send(
        new DeleteScheduleCommand({ Name: scheduleName(taskId), GroupName: this.resolved.group }),
      );
    } catch (error) {
      if (!(error instanceof ResourceNotFoundException)) throw error;
    }
  }
}
