import { UPLOADS_PREFIX } from '#lib/ingest/messages.ts';

const UUID = '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}';
const IMPORT_KEY = new RegExp(`^workspaces/(${UUID})/imports/(${UUID})/bundle$`);

/** Where an import's bundle is uploaded: under the workspace, so S3 announces it to the ingest queue. */
export function importKey(workspaceId: string, importId: string): string {
  return `${UPLOADS_PREFIX}${workspaceId}/imports/${importId}/bundle`;
}

/** The import an uploaded key belongs to (a decoded key). */
export function importOfKey(key: string): { workspaceId: string; importId: string; key: string } | undefined {
  const match = IMPORT_KEY.exec(key);
  return match ? { workspaceId: match[1]!, importId: match[2]!, key } : undefined;
}

/** Where an export is written: under `exports/`, which S3 announces to nobody and expires after a day. */
export function exportKey(workspaceId: string, exportId: string, filename: string): string {
  return `exports/${workspaceId}/${exportId}/${filename}`;
}
