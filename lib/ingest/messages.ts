import { z } from 'zod';

/** Process (or re-process) a whole datasource: text, URL lists, files already uploaded. */
export const ProcessDatasource = z.object({
  kind: z.literal('process_datasource'),
  datasource_id: z.uuid(),
  run_id: z.uuid(),
});

/** Scrape one slice of a URL list: long lists fan out over several of these. */
export const ScrapeUrls = z.object({
  kind: z.literal('scrape_urls'),
  datasource_id: z.uuid(),
  run_id: z.uuid(),
  urls: z.array(z.string()).min(1),
});

/** What S3 sends the ingest queue when an upload lands (and its test message). */
export const S3Notification = z.union([
  z.object({
    Records: z.array(
      z.object({
        eventName: z.string(),
        s3: z.object({
          bucket: z.object({ name: z.string() }),
          object: z.object({ key: z.string(), size: z.number().optional(), eTag: z.string().optional() }),
        }),
      }),
    ),
  }),
  z.object({ Event: z.literal('s3:TestEvent') }).loose(),
]);

export const IngestMessage = z.union([ProcessDatasource, ScrapeUrls, S3Notification]);
export type IngestMessage = z.output<typeof IngestMessage>;
export type ProcessDatasource = z.output<typeof ProcessDatasource>;
export type ScrapeUrls = z.output<typeof ScrapeUrls>;

/** The S3 event a bucket sends for a new object: the local object store sends the same. */
export function objectCreatedEvent(bucket: string, key: string, size: number, eTag: string) {
  return {
    Records: [
      {
        eventVersion: '2.1',
        eventSource: 'aws:s3',
        eventTime: new Date().toISOString(),
        eventName: 'ObjectCreated:Post',
        s3: {
          bucket: { name: bucket },
          object: { key: encodeURIComponent(key).replace(/%2F/g, '/'), size, eTag },
        },
      },
    ],
  };
}

/** Every uploaded file lives under this prefix; S3 notifies the ingest queue of it only. */
export const UPLOADS_PREFIX = 'workspaces/';

const UPLOAD_KEY = /^workspaces\/([0-9a-f-]{36})\/datasources\/([0-9a-f-]{36})\/[^/]+$/;

/** The datasource an upload key belongs to (S3 event keys are URL-encoded, spaces as +). */
export function datasourceOfKey(
  rawKey: string,
): { workspaceId: string; datasourceId: string; key: string } | undefined {
  const key = decodeURIComponent(rawKey.replace(/\+/g, ' '));
  const match = UPLOAD_KEY.exec(key);
  return match ? { workspaceId: match[1]!, datasourceId: match[2]!, key } : undefined;
}

/** The folder of a datasource's files. */
export function datasourceFolder(workspaceId: string, datasourceId: string): string {
  return `${UPLOADS_PREFIX}${workspaceId}/datasources/${datasourceId}/`;
}

/** Where a datasource's uploaded file lives. */
export function uploadKey(workspaceId: string, datasourceId: string, filename: string): string {
  const safe = filename.replace(/[^\w.-]+/g, '_').slice(0, 200) || 'upload';
  return `${datasourceFolder(workspaceId, datasourceId)}${safe}`;
}
