import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';

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
 */
export function sqsBatchWorker(handle: (record: SQSRecord) => Promise<void>): SqsBatchWorker {
  return (event, context) =>
    processPartialResponse(event, handle, new BatchProcessor(EventType.SQS), {
      context,
      throwOnFullBatchFailure: false,
    });
}
