import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { db } from '#lib/db/database.ts';
import { logger } from '#lib/logger.ts';
import { failDeadClassifyMessage } from '#lib/services/classification.ts';

const processor = new BatchProcessor(EventType.SQS);

/** Consumes the classify dead-letter queue: the items of given-up messages fail with a reason. */
export function classifyDeadLetterWorker(event: SQSEvent, context: Context): Promise<SQSBatchResponse> {
  return processPartialResponse(
    event,
    async (record: SQSRecord) => {
      logger.warn('Classify message dead-lettered', { message_id: record.messageId });
      await failDeadClassifyMessage(await db(), record.body);
    },
    processor,
    { context, throwOnFullBatchFailure: false },
  );
}
