import type { SQSRecord } from 'aws-lambda';
import { llm } from '#lib/classify/providers.ts';
import { type Config, config } from '#lib/config.ts';
import { db } from '#lib/db/database.ts';
import { logger } from '#lib/logger.ts';
import { platform } from '#lib/platform.ts';
import { eventPublisher } from '#lib/ports/events/index.ts';
import { handleTaskMessage, type TaskRunDeps } from '#lib/services/task-runs.ts';
import { sqsBatchWorker } from './batch.ts';

/** What a task run needs from the process: adapters, providers and settings. */
export async function taskRunDeps(log: TaskRunDeps['log'], c: Config = config()): Promise<TaskRunDeps> {
  const { queue, scheduler } = platform();
  return {
    db: await db(),
    queue,
    scheduler,
    providers: llm(),
    events: eventPublisher(c),
    log,
    settings: {
      ingestQueue: c.ingestQueue,
      classifyQueue: c.classifyQueue,
      taskQueue: c.taskQueue,
      stuckAfterSeconds: c.maintenanceStuckAfterSeconds,
      uploadUrlExpireSeconds: c.uploadUrlExpireSeconds,
      maxConsecutiveFailures: c.taskMaxConsecutiveFailures,
      scraperAllowPrivateHosts: c.scraperAllowPrivateHosts,
      webhooks: c.webhooks,
      retention: c.retention,
    },
  };
}

async function taskRecord(record: SQSRecord): Promise<void> {
  const log = logger.createChild({
    persistentKeys: {
      message_id: record.messageId,
      receive_count: record.attributes.ApproximateReceiveCount,
    },
  });
  try {
    await handleTaskMessage(await taskRunDeps(log), record.body);
  } catch (error) {
    log.error('Task message failed; it will be retried', { error: error as Error });
    throw error;
  }
}

/**
 * The dispatcher of recurring tasks, for an SQS event (Lambda, or the local runtime's event
 * source emulation): runs each firing, reporting failed messages one by one.
 */
export const taskWorker = sqsBatchWorker(taskRecord);
