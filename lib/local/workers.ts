import path from 'node:path';
import { secretKey } from '#lib/auth/secret-key.ts';
import { ensureAwsResources } from '#lib/aws/resources.ts';
import type { Config } from '#lib/config.ts';
import { db, withDbRole } from '#lib/db/database.ts';
import { objectCreatedEvent, UPLOADS_PREFIX } from '#lib/ingest/messages.ts';
import { logger } from '#lib/logger.ts';
import { eventBridgeSettings, type Platform, setPlatform } from '#lib/platform.ts';
import { LocalObjectStore } from '#lib/ports/objects/local.ts';
import { S3ObjectStore, s3Client } from '#lib/ports/objects/s3.ts';
import {
  PgBossQueueSender,
  PgBossQueueSource,
  releaseAbandoned,
  startPgBoss,
} from '#lib/ports/queue/pgboss.ts';
import { deadLetterQueueOf, type QueueSource } from '#lib/ports/queue/queue.ts';
import { newSqsClient, SqsQueueSender, SqsQueueSource, sqsClient } from '#lib/ports/queue/sqs.ts';
import { EventBridgeTaskScheduler, schedulerClient } from '#lib/ports/scheduler/eventbridge.ts';
import { TableTaskScheduler } from '#lib/ports/scheduler/scheduler.ts';
import { releaseAllLeases } from '#lib/services/item-leases.ts';
import { classifyWorker } from '#lib/workers/classify.ts';
import { classifyDeadLetterWorker } from '#lib/workers/classify-dead-letters.ts';
import { ingestWorker } from '#lib/workers/ingest.ts';
import { ingestDeadLetterWorker } from '#lib/workers/ingest-dead-letters.ts';
import { taskWorker } from '#lib/workers/tasks.ts';
import { taskDeadLetterWorker } from '#lib/workers/tasks-dead-letters.ts';
import { runEventSource } from './event-source.ts';
import { type LocalScheduler, startLocalScheduler } from './scheduler.ts';

export type LocalWorkers = {
  platform: Platform;
  /** Present on the local platform: the store behind the local upload endpoint. */
  uploads: LocalObjectStore | undefined;
  /** Fires due schedules; tests tick it with a clock of their own. */
  scheduler: LocalScheduler;
  stop: () => Promise<void>;
};

/** The role schedules name on an emulator, which never assumes it. */
const EMULATOR_SCHEDULER_ROLE = 'arn:aws:iam::000000000000:role/docsift-scheduler';

/**
 * Seconds a message may stay in a worker before the queue takes it back whatever its heartbeat
 * says (a Lambda's limit). A worker that stops beating loses it after seconds, not this.
 */
const MAX_WORK_SECONDS = 900;

/**
 * Builds the platform's adapters for the local runtime and runs the queue consumers that
 * Lambda event source mappings run in AWS: pg-boss on `local`, SQS (LocalStack, moto) on `aws`.
 * On `aws` with an endpoint override it first creates the bucket, queues and notification, so
 * an emulator needs no separate setup.
 */
export async function startWorkers(config: Config, baseUrl: string): Promise<LocalWorkers> {
  // Each queue and the workers Lambda runs on it and on its dead-letter queue. `pollers`, like
  // an event source mapping's concurrent batches: one poller waits for its whole batch before
  // taking the next, which left the LLM provider's concurrency cap a third idle (bench:classify).
  const consumers = [
    {
      queue: config.ingestQueue,
      // Each worker on its role's pool, as each is its own function in AWS (lib/db/database.ts).
      worker: withDbRole('ingest', ingestWorker),
      deadLetters: withDbRole('dead-letters', ingestDeadLetterWorker),
      name: 'ingest',
      pollers: 2,
    },
    {
      queue: config.classifyQueue,
      worker: withDbRole('classify', classifyWorker),
      deadLetters: withDbRole('dead-letters', classifyDeadLetterWorker),
      name: 'classify',
      pollers: 4,
    },
    {
      queue: config.taskQueue,
      worker: withDbRole('tasks', taskWorker),
      deadLetters: withDbRole('dead-letters', taskDeadLetterWorker),
      name: 'tasks',
      pollers: 1,
    },
  ];

  const queues = consumers.map((c) => c.queue);
  let platform: Platform;
  let uploads: LocalObjectStore | undefined;
  let sourceOf: (queue: string) => QueueSource;
  let close = async () => {};

  if (config.platform === 'local') {
    const boss = await startPgBoss(config.databaseUrl!, queues, {
      maxReceiveCount: config.queueMaxReceiveCount,
      visibilityTimeoutSeconds: MAX_WORK_SECONDS,
      retryDelaySeconds: config.queueVisibilityTimeoutSeconds,
    });
    const released = await releaseAbandoned(boss, queues);
    if (released > 0) logger.warn('Released the messages a stopped process held', { count: released });
    // Likewise the item leases its workers held: their messages are about to run again.
    const leases = await releaseAllLeases(await db('classify'));
    if (leases > 0) logger.warn('Released the item leases a stopped process held', { count: leases });
    const queue = new PgBossQueueSender(boss);
    uploads = new LocalObjectStore(
      path.resolve(config.dataDir, 'objects'),
      baseUrl,
      await secretKey(),
      // Like the bucket's notification: objects under the uploads prefix only.
      async (info) => {
        if (!info.key.startsWith(UPLOADS_PREFIX)) return;
        await queue.send(config.ingestQueue, [
          objectCreatedEvent(config.uploadsBucket, info.key, info.size, info.etag),
        ]);
      },
    );
    platform = { objects: uploads, queue, scheduler: new TableTaskScheduler() };
    sourceOf = (queue) => new PgBossQueueSource(queue, boss);
    close = () => boss.stop({ graceful: true, timeout: 5000 });
  } else {
    let taskQueueArn = config.taskQueueArn;
    if (process.env.AWS_ENDPOINT_URL) {
      ({ taskQueueArn } = await ensureAwsResources(s3Client(), sqsClient(), {
        bucket: config.uploadsBucket,
        ingestQueue: config.ingestQueue,
        classifyQueue: config.classifyQueue,
        taskQueue: config.taskQueue,
        scheduleGroup: config.taskScheduleGroup,
        maxReceiveCount: config.queueMaxReceiveCount,
        visibilityTimeoutSeconds: config.queueVisibilityTimeoutSeconds,
        corsOrigins: config.corsOrigins,
        emailsFrom: config.emailsFrom,
        eventBus: config.eventBusName,
      }));
    }
    platform = {
      objects: new S3ObjectStore(config.uploadsBucket),
      queue: new SqsQueueSender(),
      // Emulators take any role: Scheduler there stores schedules and never assumes it.
      scheduler: new EventBridgeTaskScheduler(() =>
        eventBridgeSettings({
          ...config,
          taskQueueArn,
          taskSchedulerRoleArn: config.taskSchedulerRoleArn ?? EMULATOR_SCHEDULER_ROLE,
        }),
      ),
    };
    const client = newSqsClient();
    sourceOf = (queue) => new SqsQueueSource(queue, client, config.queueVisibilityTimeoutSeconds);
    close = async () => client.destroy();
  }
  setPlatform(platform);

  const scheduler = startLocalScheduler({
    source:
      config.platform === 'local'
        ? { kind: 'table', db: await db('tasks'), taskQueue: config.taskQueue }
        : { kind: 'scheduler', client: schedulerClient(), group: config.taskScheduleGroup },
    queue: platform.queue,
    taskQueue: config.taskQueue,
    tickMs: config.localSchedulerTickSeconds * 1000,
    maintenanceMs: config.maintenanceIntervalSeconds * 1000,
  });
  const running = consumers.flatMap((c) => [
    ...Array.from({ length: c.pollers }, () =>
      runEventSource(sourceOf(c.queue), c.worker, { batchSize: 5, functionName: `${c.name}-worker` }),
    ),
    runEventSource(sourceOf(deadLetterQueueOf(c.queue)), c.deadLetters, {
      batchSize: 10,
      functionName: `${c.name}-dead-letters`,
    }),
  ]);
  return {
    platform,
    uploads,
    scheduler,
    stop: async () => {
      await scheduler.stop();
      await Promise.all(running.map((c) => c.stop()));
      await close();
      setPlatform(undefined);
    },
  };
}
