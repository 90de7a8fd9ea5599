import type { SQSRecord } from 'aws-lambda';

/** Sends messages to a named queue: SQS in aws, pg-boss locally. Bodies are JSON-serialised. */
export interface QueueSender {
  /** `delaySeconds` holds the messages back that long (at most 900, SQS's limit): retries with backoff. */
  send(queue: string, bodies: unknown[], options?: SendOptions): Promise<void>;
}

export type SendOptions = { delaySeconds?: number };

/** SQS delays a message 15 minutes at most. */
export const MAX_DELAY_SECONDS = 900;

/**
 * The consuming side, as a Lambda event source mapping sees a queue: receive a batch as SQS
 * records, then acknowledge the ones handled and give back the ones that failed (they come
 * again after the visibility timeout, and go to the dead-letter queue after the last try).
 */
export interface QueueSource {
  readonly queue: string;
  receive(max: number): Promise<SQSRecord[]>;
  complete(records: SQSRecord[]): Promise<void>;
  fail(records: SQSRecord[]): Promise<void>;
  /**
   * Keeps received messages invisible while their worker is still on them (a heartbeat), so the
   * queue's own visibility can stay short and a crashed worker's messages return soon.
   */
  keepVisible(records: SQSRecord[]): Promise<void>;
  /** How often the event source calls {@link QueueSource.keepVisible} while a batch runs; 0 for never. */
  heartbeatIntervalMs(): number;
}

/** The dead-letter queue of a queue, by naming convention (the same in CDK, LocalStack and pg-boss). */
export function deadLetterQueueOf(queue: string): string {
  return `${queue}-dlq`;
}
