import type { SQSRecord } from 'aws-lambda';
import { config } from '#lib/config.ts';
import { type Db, db } from '#lib/db/database.ts';
import { nudgeIfPending } from '#lib/events/outbox.ts';
import { logger } from '#lib/logger.ts';
import { platform } from '#lib/platform.ts';
import { type SqsBatchWorker, sqsBatchWorker } from './batch.ts';

/**
 * A consumer of a dead-letter queue: logs each given-up message and hands its body to
 * `settle`, which records the failure where the user looks (a datasource, a job's items).
 */
export function deadLetterWorker(
  queue: string,
  settle: (db: Db, body: string) => Promise<void>,
): SqsBatchWorker {
  return sqsBatchWorker(async (record: SQSRecord) => {
    logger.warn('Message dead-lettered', { queue, message_id: record.messageId });
    const database = await db();
    await settle(database, record.body);
    // The failures it recorded may be lifecycle events (a datasource, a job, an import).
    await nudgeIfPending(database, platform().queue, config().taskQueue);
  });
}
