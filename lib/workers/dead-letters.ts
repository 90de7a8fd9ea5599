import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { type Db, db } from '#lib/db/database.ts';
import { logger } from '#lib/logger.ts';

/**
 * A consumer of a dead-letter queue: logs each given-up message and hands its body to
 * `settle`, which records the failure where the user looks (a datasource, a job's items).
 */
export function deadLetterWorker(queue: string, settle: (db: Db, body: string) => Promise<void>) {
  const processor = new BatchProcessor(EventType.SQS);
  return (event: SQSEvent, context: Context): Promise<SQSBatchResponse> =>
    processPartialResponse(
      event,
      async (record: SQSRecord) => {
        logger.warn('Message dead-lettered', { queue, message_id: record.messageId });
        await settle(await db(), record.body);
      },
      processor,
      { context, throwOnFullBatchFailure: false },
    );
}
