import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { logger } from '#lib/logger.ts';
import type { QueueSource } from '#lib/ports/queue/queue.ts';
import { lambdaContext } from './api-gateway.ts';

export type SqsLambda = (event: SQSEvent, context: Context) => Promise<SQSBatchResponse | undefined>;

export type EventSourceOptions = { batchSize: number; functionName: string; idleDelayMs?: number };

/**
 * Emulates a Lambda SQS event source mapping: polls the queue, hands each batch to the worker
 * as an SQS event, deletes what succeeded and gives back what the worker reported in
 * `batchItemFailures` (or the whole batch when the worker throws). While the worker runs, the
 * batch's messages are kept invisible by a heartbeat, so a crash gives them back soon. Runs
 * until stopped; `stop()` lets the batch in hand finish.
 */
export function runEventSource(source: QueueSource, handler: SqsLambda, options: EventSourceOptions) {
  let running = true;
  let wake: (() => void) | undefined;
  const loop = (async () => {
    while (running) {
      try {
        const records = await source.receive(options.batchSize);
        if (records.length === 0) {
          await new Promise<void>((resolve) => {
            wake = resolve;
            setTimeout(resolve, options.idleDelayMs ?? 250).unref();
          });
          continue;
        }
        let failedIds: Set<string>;
        const heartbeat = keepVisible(source, records);
        try {
          const result = await handler({ Records: records }, lambdaContext(options.functionName, 900_000));
          failedIds = new Set((result?.batchItemFailures ?? []).map((f) => f.itemIdentifier));
        } catch (error) {
          logger.error('Worker failed its whole batch', { queue: source.queue, error: error as Error });
          failedIds = new Set(records.map((r) => r.messageId));
        } finally {
          await heartbeat.stop();
        }
        await source.complete(records.filter((r) => !failedIds.has(r.messageId)));
        await source.fail(records.filter((r) => failedIds.has(r.messageId)));
      } catch (error) {
        if (!running) break;
        logger.warn('Queue poll failed; retrying', { queue: source.queue, error: (error as Error).message });
        await new Promise((r) => setTimeout(r, 1000).unref());
      }
    }
  })();
  return {
    stop: async () => {
      running = false;
      wake?.();
      await loop;
    },
  };
}

/** Calls the source's heartbeat every interval until stopped; a missed beat is logged, not fatal. */
function keepVisible(source: QueueSource, records: SQSRecord[]) {
  const interval = source.heartbeatIntervalMs();
  let beat: Promise<void> = Promise.resolve();
  const timer =
    interval > 0
      ? setInterval(() => {
          beat = beat
            .then(() => source.keepVisible(records))
            .catch((error: unknown) =>
              logger.warn('Queue heartbeat failed', { queue: source.queue, error: (error as Error).message }),
            );
        }, interval)
      : undefined;
  timer?.unref();
  return {
    stop: async () => {
      clearInterval(timer);
      await beat;
    },
  };
}
