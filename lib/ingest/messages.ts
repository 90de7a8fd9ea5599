import * as z from 'zod';
import { newId } from '#lib/ids.ts';

const UUID = '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}';
/** A folder whose owner was deleted: a workspace's, or one datasource's. */
const PURGE_PREFIX = new RegExp(`^workspaces/(${UUID})/(?:datasources/(${UUID})/)?$`);

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

/**
 * Delete every stored object under a folder whose owner (a workspace or a datasource) is gone.
 * Sent after the owner's row is deleted; idempotent (an empty folder is nothing to do).
 */
export const PurgeObjects = z.object({
  kind: z.literal('purge_objects'),
  prefix: z.string().regex(PURGE_PREFIX),
});

/**
 * Delete a datasource marked `deleting` (lib/services/deletes.ts): its records a chunk per
 * transaction, then its row and its files. A long one chains messages; redelivery is harmless.
 */
export const DeleteDatasource = z.object({
  kind: z.literal('delete_datasource'),
  datasource_id: z.uuid(),
  /** Its folder's owner, to purge the files again if the row is already gone. */
  workspace_id: z.uuid(),
  /** Where the chain stands: records after this id are left (none: from the start). */
  after: z.uuid().optional(),
});

/** Delete a workspace marked `deleted_at`: its records in chunks, then its row (and its owner's, if deleted) and files. */
export const DeleteWorkspace = z.object({
  kind: z.literal('delete_workspace'),
  workspace_id: z.uuid(),
  /** Where the chain stands, as for a datasource. */
  after: z.uuid().optional(),
});

/** Scrape a URL appended to a url_list source into a record of its own, in the background. */
export const AppendUrl = z.object({
  kind: z.literal('append_url'),
  datasource_id: z.uuid(),
  url: z.string(),
  event_timestamp: z.string().optional(),
});

/**
 * Build the search documents of a run's records (lib/services/record-search.ts): sent once a
 * large run has committed, so that building them is not part of the ingest.
 */
export const IndexSearch = z.object({
  kind: z.literal('index_search'),
  datasource_id: z.uuid(),
  run_id: z.uuid(),
  /** Where the chain stands: records after this id are left (none: from the start). */
  after: z.uuid().optional(),
});

/**
 * Write an export (lib/services/bundles.ts): a bundle, or a results or dataset file; the
 * worker streams it to the object store.
 */
export const ExportBundle = z.object({
  kind: z.literal('export_bundle'),
  export_id: z.uuid(),
});

/** Export a share link's resource to an import's key (lib/services/bundles.ts), then imported as uploaded. */
export const ShareBundle = z.object({
  kind: z.literal('share_bundle'),
  import_id: z.uuid(),
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

export const IngestMessage = z.union([
  ProcessDatasource,
  ScrapeUrls,
  PurgeObjects,
  AppendUrl,
  IndexSearch,
  ExportBundle,
  ShareBundle,
  DeleteDatasource,
  DeleteWorkspace,
  S3Notification,
]);
export type IngestMessage = z.output<typeof IngestMessage>;
export type ProcessDatasource = z.output<typeof ProcessDatasource>;
export type ScrapeUrls = z.output<typeof ScrapeUrls>;
export type PurgeObjects = z.output<typeof PurgeObjects>;
export type AppendUrl = z.output<typeof AppendUrl>;
export type IndexSearch = z.output<typeof IndexSearch>;
export type ExportBundle = z.output<typeof ExportBundle>;
export type DeleteDatasource = z.output<typeof DeleteDatasource>;
export type DeleteWorkspace = z.output<typeof DeleteWorkspace>;

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
const STORED_KEY = /^workspaces\/[0-9a-f-]{36}\/datasources\/[0-9a-f-]{36}\/files\/[0-9a-f-]{36}\/[^/]+$/;

/** An S3 event key as a key (URL-encoded, spaces as +). */
export function decodeEventKey(rawKey: string): string {
  return decodeURIComponent(rawKey.replace(/\+/g, ' '));
}

/** The datasource an upload key belongs to (S3 event keys are URL-encoded, spaces as +). */
export function datasourceOfKey(
  rawKey: string,
): { workspaceId: string; datasourceId: string; key: string } | undefined {
  const key = decodeEventKey(rawKey);
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

/** A workspace's folder: every object of its datasources lives under it. */
export function workspaceFolder(workspaceId: string): string {
  return `${UPLOADS_PREFIX}${workspaceId}/`;
}

/**
 * Where an accepted upload is kept for its datasource's records: a key of its own that no
 * presigned form names, so a later upload to the form's key can never replace it.
 */
export function storedFileKey(uploadKey: string): string {
  const folder = uploadKey.slice(0, uploadKey.lastIndexOf('/') + 1);
  return `${folder}files/${newId()}/${uploadKey.slice(folder.length)}`;
}

/** Whether a key is a stored file ({@link storedFileKey}) rather than an upload. */
export function isStoredFileKey(key: string): boolean {
  return STORED_KEY.test(key);
}

/** The owner a purge prefix names. */
export function ownerOfPrefix(prefix: string): { workspaceId: string; datasourceId?: string } | undefined {
  const match = PURGE_PREFIX.exec(prefix);
  if (!match) return undefined;
  return { workspaceId: match[1]!, ...(match[2] && { datasourceId: match[2] }) };
}
