import { config } from '#lib/config.ts';
import { S3ObjectStore } from '#lib/ports/objects/s3.ts';
import type { ObjectStore } from '#lib/ports/objects/store.ts';
import type { QueueSender } from '#lib/ports/queue/queue.ts';
import { SqsQueueSender } from '#lib/ports/queue/sqs.ts';
import { EventBridgeTaskScheduler } from '#lib/ports/scheduler/eventbridge.ts';
import type { TaskScheduler } from '#lib/ports/scheduler/scheduler.ts';

/** The adapters a handler reaches the outside world through. Handlers never know which. */
export type Platform = { objects: ObjectStore; queue: QueueSender; scheduler: TaskScheduler };

let current: Platform | undefined;

/**
 * The process's adapters. On `aws` (Lambda, or LocalStack/moto through AWS_ENDPOINT_URL) they
 * are built on first use; on `local` the local runtime builds them at start and sets them.
 */
export function platform(): Platform {
  if (!current) {
    const c = config();
    if (c.platform !== 'aws')
      throw new Error('The local platform is not started (the local runtime sets it)');
    current = {
      objects: new S3ObjectStore(c.uploadsBucket),
      queue: new SqsQueueSender(),
      scheduler: new EventBridgeTaskScheduler(() => eventBridgeSettings(c)),
    };
  }
  return current;
}

/** Where task schedules live and what they target, from the configuration CDK writes. */
export function eventBridgeSettings(c: ReturnType<typeof config>) {
  const { taskQueueArn, taskSchedulerRoleArn } = c;
  if (!taskQueueArn || !taskSchedulerRoleArn) {
    throw new Error('TASK_QUEUE_ARN and TASK_SCHEDULER_ROLE_ARN must be set on the aws platform');
  }
  return {
    group: c.taskScheduleGroup,
    targetArn: taskQueueArn,
    roleArn: taskSchedulerRoleArn,
    deadLetterArn: `${taskQueueArn}-dlq`,
  };
}

/** Installs the adapters (local runtime, tests). */
export function setPlatform(next: Platform | undefined): void {
  current = next;
}
