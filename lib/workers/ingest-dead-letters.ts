import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { db } from '#lib/db/database.ts';
import { logger } from '#lib/logger.ts';
import { failDeadLetter } from '#lib/services/ingestion.ts';

const processor = new BatchProcessor(EventType.SQS);

/** Consumes the ingest dead-letter queue: the runs its messages were about are failed with a reason. */
export function ingestDeadLetterWorker(event: SQSEvent, context: Context): Promise<SQSBatchResponse> {
  return processPartialResponse(
    event,
    async (record: SQSRecord) => {
      logger.warn('Ingest message dead-lettered', { message_id: record.messageId });
      await failDeadLetter(await db(), record.body);
    },
    processor,
    { context, throwOnFullBatchFailure: false },
  );
}
