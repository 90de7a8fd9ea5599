import { config } from '#lib/config.ts';
import { deferred } from '#lib/ports/deferred.ts';
import type { ObjectStore } from '#lib/ports/objects/store.ts';
import type { QueueSender } from '#lib/ports/queue/queue.ts';
import type { TaskScheduler } from '#lib/ports/scheduler/scheduler.ts';

/** The adapters a handler reaches the outside world through. Handlers never know which. */
export type Platform = { objects: ObjectStore; queue: QueueSender; scheduler: TaskScheduler };

let current: Platform | undefined;

/**
 * The process's adapters. On `aws` (Lambda, or LocalStack/moto through AWS_ENDPOINT_URL) each
 * is built, its SDK client imported, by its first call ({@link deferred}); on `local` the local
 * runtime builds them at start and sets them.
 */
export function platform(): Platform {
  if (!current) {
    const c = config();
    if (c.platform !== 'aws')
      throw new Error('The local platform is not started (the local runtime sets it)');
    current = {
      objects: {
        signsDownloads: true,
        ...deferred<ObjectStore>(
          async () => new (await import('#lib/ports/objects/s3.ts')).S3ObjectStore(c.uploadsBucket),
          {
            presignUpload: true,
            put: true,
            putStream: true,
            downloadLink: true,
            read: true,
            head: true,
            presignDownload: true,
            copy: true,
            delete: true,
            deletePrefix: true,
          },
        ),
      },
      queue: deferred<QueueSender>(
        async () => new (await import('#lib/ports/queue/sqs.ts')).SqsQueueSender(),
        {
          send: true,
        },
      ),
      scheduler: deferred<TaskScheduler>(
        async () =>
          new (await import('#lib/ports/scheduler/eventbridge.ts')).EventBridgeTaskScheduler(() =>
            eventBridgeSettings(c),
          ),
        { put: true, disable: true, remove: true },
      ),
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
