import type { SQSRecord } from 'aws-lambda';
import { config } from '#lib/config.ts';
import { db } from '#lib/db/database.ts';
import { nudgeIfPending } from '#lib/events/outbox.ts';
import { logger } from '#lib/logger.ts';
import { recordMetric } from '#lib/observability/metrics.ts';
import { platform } from '#lib/platform.ts';
import { handleIngestMessage, recordAttemptError } from '#lib/services/ingestion.ts';
import { sqsBatchWorker } from './batch.ts';

const KINDS = new Set([
  'process_datasource',
  'scrape_urls',
  'purge_objects',
  'append_url',
  'index_search',
  'export_bundle',
  'share_bundle',
  'delete_datasource',
  'delete_workspace',
]);

/** A message's kind for the duration metric: its `kind`, `upload` for S3's notifications (a bounded set). */
export function ingestKindOf(body: string): string {
  try {
    const message = JSON.parse(body) as { kind?: unknown; Records?: unknown };
    if (typeof message.kind === 'string') return KINDS.has(message.kind) ? message.kind : 'other';
    return message.Records ? 'upload' : 'other';
  } catch {
    return 'other';
  }
}

async function ingestRecord(record: SQSRecord): Promise<void> {
  const c = config();
  const log = logger.createChild({
    persistentKeys: {
      message_id: record.messageId,
      receive_count: record.attributes.ApproximateReceiveCount,
    },
  });
  const database = await db();
  const { objects, queue } = platform();
  const started = performance.now();
  try {
    await handleIngestMessage(
      {
        db: database,
        objects,
        queue,
        log,
        settings: {
          ingestQueue: c.ingestQueue,
          maxUploadBytes: c.maxUploadBytes,
          scraperAllowPrivateHosts: c.scraperAllowPrivateHosts,
          bundleMaxUncompressedBytes: c.bundleMaxUncompressedBytes,
          uploadUrlExpireSeconds: c.uploadUrlExpireSeconds,
          deleteChunkRecords: c.deleteChunkRecords,
        },
      },
      record.body,
    );
    await nudgeIfPending(database, queue, c.taskQueue);
  } catch (error) {
    log.error('Ingest message failed; it will be retried', { error: error as Error });
    await recordAttemptError(database, record.body, error).catch(() => undefined);
    throw error;
  } finally {
    recordMetric('IngestDuration', { kind: ingestKindOf(record.body) }, performance.now() - started);
  }
}

/**
 * The ingest worker for an SQS event (Lambda, or the local runtime's emulation of an event
 * source mapping): each message on its own, failures reported per message so that only they
 * come back.
 */
export const ingestWorker = sqsBatchWorker(ingestRecord);
