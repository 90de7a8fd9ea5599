import type { SQSRecord } from 'aws-lambda';
import { llm } from '#lib/classify/providers.ts';
import { config } from '#lib/config.ts';
import { db } from '#lib/db/database.ts';
import { logger } from '#lib/logger.ts';
import { platform } from '#lib/platform.ts';
import { handleClassifyMessage } from '#lib/services/classification.ts';
import { sqsBatchWorker } from './batch.ts';

async function classifyRecord(record: SQSRecord): Promise<void> {
  const log = logger.createChild({
    persistentKeys: {
      message_id: record.messageId,
      receive_count: record.attributes.ApproximateReceiveCount,
    },
  });
  const providers = llm();
  try {
    await handleClassifyMessage(
      {
        db: await db(),
        queue: platform().queue,
        log,
        provider: (name) => providers.providers.get(name),
        settings: {
          classifyQueue: config().classifyQueue,
          taskQueue: config().taskQueue,
          planChunkRecords: config().classifyPlanChunkRecords,
        },
      },
      record.body,
    );
  } catch (error) {
    log.error('Classify message failed; it will be retried', { error: error as Error });
    throw error;
  }
}

/**
 * The classify worker for an SQS event (Lambda, or the local runtime's event-source emulation):
 * plans jobs and classifies their items, reporting failed messages one by one.
 */
export const classifyWorker = sqsBatchWorker(classifyRecord);
