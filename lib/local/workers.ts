import path from 'node:path';
import { secretKey } from '#lib/auth/secret-key.ts';
import { ensureAwsResources } from '#lib/aws/resources.ts';
import type { Config } from '#lib/config.ts';
import { objectCreatedEvent } from '#lib/ingest/messages.ts';
import { type Platform, setPlatform } from '#lib/platform.ts';
import { LocalObjectStore } from '#lib/ports/objects/local.ts';
import { S3ObjectStore, s3Client } from '#lib/ports/objects/s3.ts';
import { PgBossQueueSender, PgBossQueueSource, startPgBoss } from '#lib/ports/queue/pgboss.ts';
import { deadLetterQueueOf, type QueueSource } from '#lib/ports/queue/queue.ts';
import { newSqsClient, SqsQueueSender, SqsQueueSource, sqsClient } from '#lib/ports/queue/sqs.ts';
import { ingestWorker } from '#lib/workers/ingest.ts';
import { ingestDeadLetterWorker } from '#lib/workers/ingest-dead-letters.ts';
import { runEventSource } from './event-source.ts';

export type LocalWorkers = {
  platform: Platform;
  /** Present on the local platform: the store behind the local upload endpoint. */
  uploads: LocalObjectStore | undefined;
  stop: () => Promise<void>;
};

/** Seconds a message may stay in a worker before the queue hands it out again (a Lambda's limit). */
const MAX_WORK_SECONDS = 900;

/**
 * Builds the platform's adapters for the local runtime and runs the queue consumers that
 * Lambda event source mappings run in AWS: pg-boss on `local`, SQS (LocalStack, moto) on `aws`.
 * On `aws` with an endpoint override it first creates the bucket, queues and notification, so
 * an emulator needs no separate setup.
 */
export async function startWorkers(config: Config, baseUrl: string): Promise<LocalWorkers> {
  const queues = [config.ingestQueue];
  let platform: Platform;
  let uploads: LocalObjectStore | undefined;
  let sources: QueueSource[];
  let close = async () => {};

  if (config.platform === 'local') {
    const boss = await startPgBoss(config.databaseUrl!, queues, {
      maxReceiveCount: config.queueMaxReceiveCount,
      visibilityTimeoutSeconds: MAX_WORK_SECONDS,
      retryDelaySeconds: config.queueVisibilityTimeoutSeconds,
    });
    const queue = new PgBossQueueSender(boss);
    uploads = new LocalObjectStore(
      path.resolve(config.dataDir, 'objects'),
      baseUrl,
      await secretKey(),
      (info) =>
        queue.send(config.ingestQueue, [
          objectCreatedEvent(config.uploadsBucket, info.key, info.size, info.etag),
        ]),
    );
    platform = { objects: uploads, queue };
    sources = [
      new PgBossQueueSource(config.ingestQueue, boss),
      new PgBossQueueSource(deadLetterQueueOf(config.ingestQueue), boss),
    ];
    close = () => boss.stop({ graceful: true, timeout: 5000 });
  } else {
    if (process.env.AWS_ENDPOINT_URL) {
      await ensureAwsResources(s3Client(), sqsClient(), {
        bucket: config.uploadsBucket,
        ingestQueue: config.ingestQueue,
        maxReceiveCount: config.queueMaxReceiveCount,
        visibilityTimeoutSeconds: config.queueVisibilityTimeoutSeconds,
        corsOrigins: config.corsOrigins,
      });
    }
    platform = { objects: new S3ObjectStore(config.uploadsBucket), queue: new SqsQueueSender() };
    const client = newSqsClient();
    sources = [
      new SqsQueueSource(config.ingestQueue, client),
      new SqsQueueSource(deadLetterQueueOf(config.ingestQueue), client),
    ];
    close = async () => client.destroy();
  }
  setPlatform(platform);

  const consumers = [
    runEventSource(sources[0]!, ingestWorker, { batchSize: 5, functionName: 'ingest-worker' }),
    runEventSource(sources[1]!, ingestDeadLetterWorker, {
      batchSize: 10,
      functionName: 'ingest-dead-letters',
    }),
  ];
  return {
    platform,
    uploads,
    stop: async () => {
      await Promise.all(consumers.map((c) => c.stop()));
      await close();
      setPlatform(undefined);
    },
  };
}
