import type { SQSMessageAttributes, SQSRecord } from 'aws-lambda';
import { PgBoss } from 'pg-boss';
import { CORRELATION_ATTRIBUTE, correlationId } from '#lib/observability/correlation.ts';
import {
  deadLetterQueueOf,
  MAX_DELAY_SECONDS,
  type QueueSender,
  type QueueSource,
  type SendOptions,
} from './queue.ts';

export type LocalQueueOptions = {
  /** Deliveries before a message moves to `<queue>-dlq` (SQS's maxReceiveCount). */
  maxReceiveCount: number;
  /** The longest a received message may be worked on before the queue hands it out again (a Lambda's limit). */
  visibilityTimeoutSeconds: number;
  /** Wait before a failed message comes back (SQS: the rest of its visibility timeout). */
  retryDelaySeconds: number;
};

/**
 * Seconds without a heartbeat after which pg-boss takes a job back from its worker (pg-boss's
 * minimum). The event source touches the jobs in hand every third of it.
 */
export const HEARTBEAT_SECONDS = 10;
/** How often pg-boss looks for jobs whose heartbeat stopped (its default is a minute). */
const SUPERVISE_INTERVAL_SECONDS = 5;

/**
 * Starts pg-boss on the app's database and creates each queue with SQS's semantics: a
 * visibility timeout (pg-boss's expiry of an active job, kept alive by heartbeats and cut
 * short when they stop), a bounded number of deliveries, and a dead-letter queue after the
 * last one. Queues made by an earlier version get the heartbeat too.
 */
export async function startPgBoss(
  connectionString: string,
  queues: string[],
  options: LocalQueueOptions,
): Promise<PgBoss> {
  const boss = new PgBoss({
    connectionString,
    schema: 'pgboss',
    max: 4,
    superviseIntervalSeconds: SUPERVISE_INTERVAL_SECONDS,
  });
  boss.on('error', () => undefined);
  await boss.start();
  for (const queue of queues) {
    const dlq = deadLetterQueueOf(queue);
    if (!(await boss.getQueue(dlq)))
      await boss.createQueue(dlq, { retryLimit: 0, heartbeatSeconds: HEARTBEAT_SECONDS });
    else await boss.updateQueue(dlq, { heartbeatSeconds: HEARTBEAT_SECONDS });
    const settings = {
      retryLimit: options.maxReceiveCount - 1,
      retryDelay: options.retryDelaySeconds,
      expireInSeconds: options.visibilityTimeoutSeconds,
      heartbeatSeconds: HEARTBEAT_SECONDS,
    };
    if (!(await boss.getQueue(queue))) await boss.createQueue(queue, { ...settings, deadLetter: dlq });
    else await boss.updateQueue(queue, settings);
  }
  return boss;
}

/**
 * Gives back at once the messages a dead process held: at start, every active job of these
 * queues (and their dead-letter queues) belongs to a process that is gone, since one process
 * alone consumes a database's local queues. Each counts as a delivery (pg-boss's fail), so a
 * message that kills its worker every time still ends in the dead-letter queue; the retries
 * are due now rather than after the retry delay, since nothing failed but the process.
 * Returns how many were released.
 */
export async function releaseAbandoned(boss: PgBoss, queues: string[]): Promise<number> {
  const names = queues.flatMap((q) => [q, deadLetterQueueOf(q)]);
  const db = boss.getDb();
  const { rows } = await db.executeSql(
    "SELECT name, id FROM pgboss.job WHERE name = ANY($1::text[]) AND state = 'active'",
    [names],
  );
  const held = rows as { name: string; id: string }[];
  for (const name of names) {
    const ids = held.filter((j) => j.name === name).map((j) => j.id);
    if (ids.length === 0) continue;
    await boss.fail(name, ids, { message: 'The process working on it stopped' });
    await db.executeSql(
      "UPDATE pgboss.job SET start_after = now() WHERE name = $1 AND id = ANY($2::uuid[]) AND state = 'retry'",
      [name, ids],
    );
  }
  return held.length;
}

/**
 * A message as a pg-boss job holds it: the body, the correlation id of the work that sent it
 * (SQS keeps it as a message attribute) and when it was sent (SQS's SentTimestamp).
 */
type LocalMessage = { body: string; correlation_id?: string; sent_at?: number };

/** Sends to a pg-boss queue. */
export class PgBossQueueSender implements QueueSender {
  constructor(private readonly boss: PgBoss) {}

  async send(queue: string, bodies: unknown[], options: SendOptions = {}): Promise<void> {
    if (bodies.length === 0) return;
    const delay = options.delaySeconds && Math.min(MAX_DELAY_SECONDS, Math.round(options.delaySeconds));
    const startAfter = delay ? new Date(Date.now() + delay * 1000) : undefined;
    const correlation = correlationId();
    const job = (body: unknown): LocalMessage => ({
      body: JSON.stringify(body),
      ...(correlation && { correlation_id: correlation }),
      sent_at: Date.now(),
    });
    await this.boss.insert(
      queue,
      bodies.map((body) => ({ data: job(body), ...(startAfter && { startAfter }) })),
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
    const attributesOf = (data: LocalMessage): SQSMessageAttributes =>
      data.correlation_id
        ? {
            [CORRELATION_ATTRIBUTE]: {
              stringValue: data.correlation_id,
              dataType: 'String',
              stringListValues: [],
              binaryListValues: [],
            },
          }
        : {};
    const jobs = await this.boss.fetch<LocalMessage>(this.queue, { batchSize: max });
    const now = String(Date.now());
    return jobs.map((job) => ({
      messageId: job.id,
      receiptHandle: job.id,
      body: job.data.body,
      attributes: {
        ApproximateReceiveCount: String(job.retryCount + 1),
        SentTimestamp: String(job.data.sent_at ?? now),
        SenderId: 'local',
        ApproximateFirstReceiveTimestamp: now,
      },
      messageAttributes: attributesOf(job.data),
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

  /** A heartbeat: the jobs stay this worker's while it works on them. */
  async keepVisible(records: SQSRecord[]): Promise<void> {
    if (records.length > 0)
      await this.boss.touch(
        this.queue,
        records.map((r) => r.messageId),
      );
  }

  heartbeatIntervalMs(): number {
    return (HEARTBEAT_SECONDS * 1000) / 3;
  }

  async fail(records: SQSRecord[]): Promise<void> {
    if (records.length > 0)
      await this.boss.fail(
        this.queue,
        records.map((r) => r.messageId),
      );
  }
}
