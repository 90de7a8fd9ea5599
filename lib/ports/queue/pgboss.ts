import type { SQSRecord } from 'aws-lambda';
import { PgBoss } from 'pg-boss';
import { deadLetterQueueOf, type QueueSender, type QueueSource } from './queue.ts';

export type LocalQueueOptions = {
  /** Deliveries before a message moves to `<queue>-dlq` (SQS's maxReceiveCount). */
  maxReceiveCount: number;
  /** How long a received message stays invisible before it may be delivered again. */
  visibilityTimeoutSeconds: number;
  /** Wait before a failed message comes back (SQS: the rest of its visibility timeout). */
  retryDelaySeconds: number;
};

/**
 * Starts pg-boss on the app's database and creates each queue with SQS's semantics: a
 * visibility timeout (pg-boss's expiry of an active job), a bounded number of deliveries,
 * and a dead-letter queue after the last one.
 */
export async function startPgBoss(
  connectionString: string,
  queues: string[],
  options: LocalQueueOptions,
): Promise<PgBoss> {
  const boss = new PgBoss({ connectionString, schema: 'pgboss', max: 4 });
  boss.on('error', () => undefined);
  await boss.start();
  for (const queue of queues) {
    const dlq = deadLetterQueueOf(queue);
    if (!(await boss.getQueue(dlq))) await boss.createQueue(dlq, { retryLimit: 0 });
    if (!(await boss.getQueue(queue))) {
      await boss.createQueue(queue, {
        retryLimit: options.maxReceiveCount - 1,
        retryDelay: options.retryDelaySeconds,
        expireInSeconds: options.visibilityTimeoutSeconds,
        deadLetter: dlq,
      });
    }
  }
  return boss;
}

/** Sends to a pg-boss queue. */
export class PgBossQueueSender implements QueueSender {
  constructor(private readonly boss: PgBoss) {}

  async send(queue: string, bodies: unknown[]): Promise<void> {
    if (bodies.length === 0) return;
    await this.boss.insert(
      queue,
      bodies.map((body) => ({ data: { body: JSON.stringify(body) } })),
    );
  }
}

/** Reads a pg-boss queue as SQS records, so the same worker handlers consume it. */
export class PgBossQueueSource implements QueueSource {
  constructor(
    readonly queue: string,
    private readonly boss: PgBoss,
  ) {}

  async receive(max: number): Promise<SQSRecord[]> {
    const jobs = await this.boss.fetch<{ body: string }>(this.queue, { batchSize: max });
    const now = String(Date.now());
    return jobs.map((job) => ({
      messageId: job.id,
      receiptHandle: job.id,
      body: job.data.body,
      attributes: {
        ApproximateReceiveCount: String(job.retryCount + 1),
        SentTimestamp: now,
        SenderId: 'local',
        ApproximateFirstReceiveTimestamp: now,
      },
      messageAttributes: {},
      md5OfBody: '',
      eventSource: 'aws:sqs',
      eventSourceARN: `arn:aws:sqs:local:000000000000:${this.queue}`,
      awsRegion: 'local',
    }));
  }

  async complete(records: SQSRecord[]): Promise<void> {
    if (records.length > 0)
      await this.boss.complete(
        this.queue,
        records.map((r) => r.messageId),
      );
  }

  async fail(records: SQSRecord[]): Promise<void> {
    if (records.length > 0)
      await this.boss.fail(
        this.queue,
        records.map((r) => r.messageId),
      );
  }
}
