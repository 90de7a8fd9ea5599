import type { SQSClient } from '@aws-sdk/client-sqs';
import type { SQSRecord } from 'aws-lambda';
import { logger } from '#lib/logger.ts';
import { extendVisibility, queueUrl, sqsClient } from '#lib/ports/queue/sqs.ts';
import type { SqsBatchWorker } from './batch.ts';

/**
 * How long a message a Lambda worker holds stays hidden past its last heartbeat. The queue's own
 * visibility stays at six times the function's timeout (AWS's advice, for batches Lambda retries
 * after a throttle); once the worker runs, its messages are hidden this long at a time instead, so
 * a worker that times out or dies gives them back within this, not within hours.
 */
export const VISIBILITY_WINDOW_SECONDS = 120;

export type VisibilityOptions = { windowSeconds?: number; client?: SQSClient };

/**
 * Wraps a Lambda SQS worker with a visibility heartbeat: at the start and every third of the
 * window its messages are hidden for the window again, until the worker returns. Failed
 * messages then come back within the window. A beat that fails is logged: the worst case is
 * a message delivered twice, which every consumer tolerates.
 *
 * @example export const handler = keepingVisible(classifyWorker)
 */
export function keepingVisible(worker: SqsBatchWorker, options: VisibilityOptions = {}): SqsBatchWorker {
  const window = options.windowSeconds ?? VISIBILITY_WINDOW_SECONDS;
  return async (event, context) => {
    const client = options.client ?? sqsClient();
    const beat = () => hide(client, event.Records, window);
    let beating = beat();
    const timer = setInterval(
      () => {
        beating = beating.then(beat);
      },
      (window * 1000) / 3,
    );
    try {
      return await worker(event, context);
    } finally {
      clearInterval(timer);
      await beating;
    }
  };
}

async function hide(client: SQSClient, records: SQSRecord[], seconds: number): Promise<void> {
  const byQueue = new Map<string, SQSRecord[]>();
  for (const r of records) byQueue.set(r.eventSourceARN, [...(byQueue.get(r.eventSourceARN) ?? []), r]);
  for (const [arn, batch] of byQueue) {
    try {
      // arn:aws:sqs:<region>:<account>:<name>
      const name = arn.split(':').at(-1)!;
      const url = await queueUrl(client, name);
      await extendVisibility(
        client,
        url,
        batch.map((r) => r.receiptHandle),
        seconds,
      );
    } catch (error) {
      logger.warn('Could not extend the visibility of the messages in hand', {
        queue: arn,
        error: (error as Error).message,
      });
    }
  }
}
