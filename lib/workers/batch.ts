import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { CORRELATION_ATTRIBUTE, withCorrelation } from '#lib/observability/correlation.ts';
import { invocationEnded, recordMetric } from '#lib/observability/metrics.ts';
import { traced } from '#lib/observability/tracing.ts';

/** A worker as Lambda's SQS event source mapping calls it. */
export type SqsBatchWorker = (event: SQSEvent, context: Context) => Promise<SQSBatchResponse>;

/**
 * Turns a per-message handler into an SQS batch worker that reports failed messages one by
 * one (`batchItemFailures`); a batch whose every message failed is reported like any other.
 *
 * Each batch gets a processor of its own: a processor keeps its batch's records and failures in
 * its fields outside Lambda's invoke context, so batches running at once in one process (the
 * local runtime's pollers) on a shared processor overwrite each other's failures, and a failed
 * message is acknowledged as done.
 *
 * Each message is handled under its correlation id (see {@link observedRecord}); the batch's
 * metrics are flushed when it ends.
 */
export function sqsBatchWorker(handle: (record: SQSRecord) => Promise<void>): SqsBatchWorker {
  return async (event, context) => {
    try {
      return await processPartialResponse(
        event,
        (record: SQSRecord) => observedRecord(record, handle),
        new BatchProcessor(EventType.SQS),
        { context, throwOnFullBatchFailure: false },
      );
    } finally {
      invocationEnded();
    }
  };
}

/** The queue a record came from: the last part of its ARN. */
export function queueOf(record: SQSRecord): string {
  return record.eventSourceARN.split(':').at(-1) ?? 'unknown';
}

/**
 * Handles one message under the correlation id it carries (the request that caused it; its own
 * message id when it has none: an S3 notification, a schedule's firing), in a trace subsegment
 * continuing its sender's trace, recording how long it waited in the queue and whether it failed.
 */
async function observedRecord(
  record: SQSRecord,
  handle: (record: SQSRecord) => Promise<void>,
): Promise<void> {
  const queue = queueOf(record);
  const sent = Number(record.attributes.SentTimestamp);
  if (Number.isFinite(sent) && sent > 0) recordMetric('QueueAge', { queue }, Math.max(0, Date.now() - sent));
  const correlation = record.messageAttributes?.[CORRELATION_ATTRIBUTE]?.stringValue ?? record.messageId;
  try {
    await withCorrelation(correlation, () =>
      traced(`## ${queue} message`, correlation, () => handle(record), record.attributes.AWSTraceHeader),
    );
  } catch (error) {
    recordMetric('MessagesFailed', { queue });
    throw error;
  }
}
