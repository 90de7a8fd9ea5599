import type { Logger } from '@aws-lambda-powertools/logger';
import { secretKey } from '#lib/auth/secret-key.ts';
import { BundleError } from '#lib/bundles/errors.ts';
import { bundleOutput, EXPORTERS, writePlan } from '#lib/bundles/exporters.ts';
import { type BundleLimits, type BundleType, DEFAULT_LIMITS, verifyManifest } from '#lib/bundles/format.ts';
import { ImportSession } from '#lib/bundles/importer.ts';
import { exportKey, importKey } from '#lib/bundles/keys.ts';
import { importRows, importZip, verifyZip } from '#lib/bundles/read-bundle.ts';
import { fromReference } from '#lib/bundles/reference.ts';
import { looksLikeZip } from '#lib/bundles/zip-reader.ts';
import { BundleWriter } from '#lib/bundles/zip-writer.ts';
import type { ExportFormat } from '#lib/classify/export.ts';
import type { Db } from '#lib/db/database.ts';
import type { BundleExport, BundleImport, ImportSourceRef, SkippedRows, User } from '#lib/db/schema.ts';
import { NotFoundError, PayloadTooLargeError, UnavailableError, ValidationError } from '#lib/errors.ts';
import { exportFinished, importFinished } from '#lib/events/lifecycle.ts';
import { recordEvents } from '#lib/events/outbox.ts';
import { newId } from '#lib/ids.ts';
import { type ObjectStore, type PresignedUpload, readAll } from '#lib/ports/objects/store.ts';
import type { QueueSender } from '#lib/ports/queue/queue.ts';
import { requireWorkspace } from './access.ts';
import { datasetFile, type FileSource, jobResultsFile, storeFile } from './file-exports.ts';
import { resolveShareForImport } from './share-access.ts';

/** Ask the ingest worker to export a share link's resource to an import's key. */
export type ShareBundleMessage = { kind: 'share_bundle'; import_id: string };

export type BundleSettings = {
  ingestQueue: string;
  /** The largest bundle accepted (the presigned upload's limit, checked again by the worker). */
  maxUploadBytes: number;
  maxUncompressedBytes: number;
  uploadUrlExpireSeconds: number;
};

/** A bundle posted with the request instead of uploaded: Lambda takes 6 MB, base64 and all. */
export const INLINE_BUNDLE_MAX_BYTES = 5 * 1024 * 1024;

// ---------------------------------------------------------------- exports

export type BundleWorkerDeps = { db: Db; objects: ObjectStore; log: Logger; settings: BundleSettings };

/**
 * Writes an export (the ingest worker, `export_bundle`): a bundle, or a job's results or a
 * dataset as one file. Idempotent: a finished export is left alone; a redelivery of one caught
 * mid-way writes it again to the same key. Bundles read their rows in one repeatable-read
 * transaction (a consistent snapshot); files page through them. Both stream to the store.
 */
export async function runExport(deps: BundleWorkerDeps, exportId: string): Promise<void> {
  const claimed = await deps.db
    .updateTable('bundle_exports')
    .set({ status: 'processing' })
    .where('id', '=', exportId)
    .where('status', 'in', ['pending', 'processing'])
    .returningAll()
    .executeTakeFirst();
  if (!claimed) return;
  try {
    const { key, counts, info } =
      claimed.format === 'bundle'
        ? await writeBundleExport(deps, claimed)
        : await writeFileExport(deps, claimed);
    await deps.db.transaction().execute(async (trx) => {
      const done = await trx
        .updateTable('bundle_exports')
        .set({
          status: 'complete',
          object_key: key,
          bytes: info.size,
          counts: JSON.stringify(counts),
          finished_at: new Date(),
        })
        .where('id', '=', exportId)
        .where('status', '=', 'processing')
        .returningAll()
        .executeTakeFirst();
      if (done) await recordEvents(trx, [exportFinished(done)]);
    });
  } catch (error) {
    if (!(error instanceof BundleError)) throw error;
    await failExport(deps.db, exportId, error.reason);
  }
}

async function writeBundleExport(deps: BundleWorkerDeps, row: BundleExport) {
  const filename = `${row.type}-${row.resource_id ?? row.workspace_id}.zip`;
  const key = exportKey(row.workspace_id, row.id, filename);
  const { counts, info } = await writeBundle(deps, {
    workspaceId: row.workspace_id,
    type: row.type,
    resourceId: row.resource_id ?? undefined,
    key,
    includeFiles: row.include_files,
  });
  return { key, counts, info };
}

/**
 * A results or dataset file, streamed to the store as its rows are paged through, read as the
 * workspace's owner (the export's creator was checked when it was made). A resource deleted
 * since fails the export.
 */
async function writeFileExport(deps: BundleWorkerDeps, row: BundleExport) {
  const format = row.format as ExportFormat;
  const options = { format, includeText: row.include_text };
  const { owner_id: ownerId } = await deps.db
    .selectFrom('workspaces')
    .select('owner_id')
    .where('id', '=', row.workspace_id)
    .executeTakeFirstOrThrow(() => new BundleError('The workspace no longer exists'));
  const reader = { id: ownerId };
  const resourceId = row.resource_id!;
  let file: FileSource;
  try {
    if (row.type === 'dataset')
      file = await datasetFile(deps.db, reader, row.workspace_id, resourceId, options);
    else {
      const job = await deps.db
        .selectFrom('classification_jobs')
        .selectAll()
        .where('id', '=', resourceId)
        .where('workspace_id', '=', row.workspace_id)
        .executeTakeFirstOrThrow(() => new NotFoundError('Job not found'));
      file = await jobResultsFile(deps.db, reader, job, options);
    }
  } catch (error) {
    if (error instanceof NotFoundError)
      throw new BundleError(`The ${row.type.replace('_', ' ')} no longer exists`);
    throw error;
  }
  const key = exportKey(row.workspace_id, row.id, file.filename);
  const info = await storeFile(deps.objects, key, file);
  return { key, counts: { [row.type === 'dataset' ? 'members' : 'results']: file.count() }, info };
}

/** Fails an export with a reason (unless it finished meanwhile). */
export async function failExport(db: Db, exportId: string, reason: string): Promise<void> {
  await db.transaction().execute(async (trx) => {
    const failed = await trx
      .updateTable('bundle_exports')
      .set({ status: 'failed', error_message: reason, finished_at: new Date() })
      .where('id', '=', exportId)
      .where('status', 'in', ['pending', 'processing'])
      .returningAll()
      .executeTakeFirst();
    if (failed) await recordEvents(trx, [exportFinished(failed)]);
  });
}

// ---------------------------------------------------------------- imports

export type ImportOut = {
  id: string;
  workspace_id: string;
  status: BundleImport['status'];
  error_message: string | null;
  format: string | null;
  bundle_type: string | null;
  signature: BundleImport['signature'];
  counts: Record<string, number>;
  skipped: BundleImport['skipped'];
  source: { share_link_id: string; share_token: 'redacted' } | null;
  upload: PresignedUpload | null;
  created_at: string;
  finished_at: string | null;
};

/** An import as the API shows it: a share link's import names the link, never its token. */
export function toImportOut(i: BundleImport, upload?: PresignedUpload): ImportOut {
  return {
    id: i.id,
    workspace_id: i.workspace_id,
    status: i.status,
    error_message: i.error_message,
    format: i.format,
    bundle_type: i.bundle_type,
    signature: i.signature,
    counts: i.counts,
    skipped: i.skipped,
    source: i.source ? { share_link_id: i.source.share_link_id, share_token: 'redacted' } : null,
    upload: upload ?? null,
    created_at: i.created_at.toISOString(),
    finished_at: i.finished_at?.toISOString() ?? null,
  };
}

/**
 * Where an import's bundle comes from. `upload`: a presigned POST comes back; `bytes`: posted
 * with the request (at most {@link INLINE_BUNDLE_MAX_BYTES}); `share`: a share link with
 * `import` permission, whose resource the ingest worker exports to the import's key.
 */
export type ImportSource =
  | { kind: 'upload' }
  | { kind: 'bytes'; bytes: Buffer }
  | { kind: 'share'; token: string; queue: QueueSender };

/**
 * Creates an import into the caller's workspace. Every way the bundle ends up at the
 * import's key, whose S3 event (or the local store's) brings it to the ingest worker: one
 * import path for uploads, inline bundles and share links.
 */
export async function createImport(
  db: Db,
  objects: ObjectStore,
  user: Pick<User, 'id'>,
  workspaceId: string,
  source: ImportSource,
  settings: BundleSettings,
): Promise<{ row: BundleImport; upload?: PresignedUpload }> {
  await requireWorkspace(db, user, workspaceId);
  if (source.kind === 'share') return createShareImport(db, user, workspaceId, source, settings);
  if (source.kind === 'bytes') {
    const limit = Math.min(INLINE_BUNDLE_MAX_BYTES, settings.maxUploadBytes);
    if (source.bytes.length > limit)
      throw new PayloadTooLargeError(
        `Bundles sent with the request are limited to ${limit} bytes; use the presigned upload`,
      );
    if (source.bytes.length === 0)
      throw new ValidationError([{ location: 'body', path: 'file', message: 'The bundle is empty' }]);
  }
  const id = newId();
  const key = importKey(workspaceId, id);
  const row = await db
    .insertInto('bundle_imports')
    .values({
      id,
      workspace_id: workspaceId,
      user_id: user.id,
      status: source.kind === 'upload' ? 'awaiting_upload' : 'pending',
      object_key: key,
    })
    .returningAll()
    .executeTakeFirstOrThrow();
  if (source.kind === 'upload') {
    const upload = await objects.presignUpload(key, {
      maxBytes: settings.maxUploadBytes,
      expiresSeconds: settings.uploadUrlExpireSeconds,
    });
    return { row, upload };
  }
  try {
    await objects.put(key, source.bytes);
  } catch (cause) {
    await db.deleteFrom('bundle_imports').where('id', '=', id).execute();
    throw new UnavailableError('The object store is unavailable; try again', { cause });
  }
  return { row };
}

/**
 * An import of a share link's resource: the link's rules apply (404, 410, 401, and 403 unless
 * its permission is `import`), one use is counted, and the ingest worker is asked to export the
 * resource to the import's key ({@link runShareExport}). The row keeps the link's id, never the token.
 */
async function createShareImport(
  db: Db,
  user: Pick<User, 'id'>,
  workspaceId: string,
  source: Extract<ImportSource, { kind: 'share' }>,
  settings: Pick<BundleSettings, 'ingestQueue'>,
): Promise<{ row: BundleImport }> {
  const shared = await resolveShareForImport(db, source.token, user);
  const id = newId();
  const row = await db
    .insertInto('bundle_imports')
    .values({
      id,
      workspace_id: workspaceId,
      user_id: user.id,
      status: 'pending',
      object_key: importKey(workspaceId, id),
      source: JSON.stringify({
        share_link_id: shared.link_id,
        workspace_id: shared.workspace_id,
        resource_type: shared.resource_type,
        resource_id: shared.resource_id,
      } satisfies ImportSourceRef),
    })
    .returningAll()
    .executeTakeFirstOrThrow();
  try {
    await source.queue.send(settings.ingestQueue, [
      { kind: 'share_bundle', import_id: id } satisfies ShareBundleMessage,
    ]);
  } catch (cause) {
    await db.deleteFrom('bundle_imports').where('id', '=', id).execute();
    throw new UnavailableError('The ingest queue is unavailable; try again', { cause });
  }
  return { row };
}

/**
 * Exports a share link's resource from its workspace to the import's key (the ingest worker,
 * `share_bundle`), with the exporters and writer of any export; the key's S3 event then brings
 * it to {@link runImport} like an uploaded bundle. Idempotent: only a pending import is
 * written, and a redelivery writes the same bundle to the same key again. Original files stay
 * behind: a shared resource's bundle carries its rows.
 */
export async function runShareExport(deps: BundleWorkerDeps, importId: string): Promise<void> {
  const row = await deps.db
    .selectFrom('bundle_imports')
    .selectAll()
    .where('id', '=', importId)
    .executeTakeFirst();
  if (!row?.source || row.status !== 'pending') return;
  const { workspace_id, resource_type, resource_id } = row.source;
  try {
    await writeBundle(deps, {
      workspaceId: workspace_id,
      type: resource_type,
      resourceId: resource_type === 'workspace' ? undefined : resource_id,
      key: row.object_key,
      includeFiles: false,
    });
  } catch (error) {
    if (!(error instanceof BundleError)) throw error;
    await failImport(deps.db, importId, `The shared ${resource_type.replace('_', ' ')}: ${error.reason}`);
  }
}

/**
 * Writes one bundle of a workspace's resource to `key`: rows read in one repeatable-read
 * transaction (a consistent snapshot), streamed to the store, the manifest signed.
 */
async function writeBundle(
  deps: Pick<BundleWorkerDeps, 'db' | 'objects'>,
  bundle: {
    workspaceId: string;
    type: BundleType;
    resourceId: string | undefined;
    key: string;
    includeFiles: boolean;
  },
) {
  const signingKey = await secretKey();
  return deps.db
    .transaction()
    .setIsolationLevel('repeatable read')
    .setAccessMode('read only')
    .execute(async (trx) => {
      const plan = await EXPORTERS[bundle.type](trx, bundle.workspaceId, bundle.resourceId);
      const { out, upload } = bundleOutput(deps.objects, bundle.key);
      const writer = new BundleWriter(out);
      try {
        const counts = await writePlan(
          trx,
          deps.objects,
          bundle.workspaceId,
          plan,
          writer,
          bundle.includeFiles,
        );
        await writer.finish(bundle.type, signingKey, new Date());
        return { counts, info: await upload };
      } catch (error) {
        out.close(error);
        await upload.catch(() => undefined);
        throw error;
      }
    });
}

/** An import of the caller's workspace, or 404. */
export async function requireImport(db: Db, user: Pick<User, 'id'>, workspaceId: string, id: string) {
  await requireWorkspace(db, user, workspaceId);
  const row = await db
    .selectFrom('bundle_imports')
    .selectAll()
    .where('id', '=', id)
    .where('workspace_id', '=', workspaceId)
    .executeTakeFirst();
  if (!row) throw new NotFoundError('Import not found');
  return row;
}

/** Postgres refusing a row (a duplicate key, a value out of range): the bundle's fault, not the worker's. */
function refusedData(error: unknown): BundleError | undefined {
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string' && (code.startsWith('22') || code.startsWith('23')))
    return new BundleError(`The bundle holds data the database refuses: ${(error as Error).message}`);
  return undefined;
}

/** The limits of this instance. */
function limitsOf(settings: BundleSettings): BundleLimits {
  return {
    ...DEFAULT_LIMITS,
    maxBytes: settings.maxUploadBytes,
    maxUncompressedBytes: settings.maxUncompressedBytes,
  };
}

/**
 * Imports an uploaded bundle (the ingest worker, from the S3 event of the import's key). All
 * or nothing: the rows go in one transaction that also completes the import, under a lock on
 * the import's row, so a duplicate delivery waits and then finds it complete. A bad bundle
 * fails the import with the reason; the workspace is unchanged. Anything else throws and is
 * retried. The bundle is deleted once the import has finished either way; a later upload to
 * the same form (a presigned POST cannot be revoked) is a stray and deleted.
 */
export async function runImport(
  deps: BundleWorkerDeps,
  upload: { importId: string; key: string },
): Promise<void> {
  const row = await deps.db
    .selectFrom('bundle_imports')
    .selectAll()
    .where('id', '=', upload.importId)
    .executeTakeFirst();
  if (!row || row.object_key !== upload.key || row.status === 'complete' || row.status === 'failed') {
    deps.log.info('Bundle not awaited by an import deleted', {
      key: upload.key,
      status: row?.status ?? 'deleted',
    });
    await deps.objects.delete(upload.key);
    return;
  }
  await deps.db
    .updateTable('bundle_imports')
    .set({ status: 'processing' })
    .where('id', '=', row.id)
    .where('status', 'in', ['awaiting_upload', 'pending', 'processing'])
    .execute();
  const limits = limitsOf(deps.settings);
  let session: ImportSession | undefined;
  try {
    const info = await deps.objects.head(row.object_key);
    if (!info) throw new BundleError('The bundle was not uploaded');
    if (info.size > limits.maxBytes)
      throw new BundleError(
        `The bundle is ${info.size} bytes; at most ${limits.maxBytes} are accepted (oversized)`,
      );
    const head = await firstBytes(await deps.objects.read(row.object_key));
    const zip = looksLikeZip(head);
    let described: {
      format: string;
      bundle_type: string;
      signature: BundleImport['signature'];
      skipped?: SkippedRows[];
    };
    let load: (session: ImportSession) => Promise<void>;
    if (zip) {
      const manifest = await verifyZip(await deps.objects.read(row.object_key), info.size, limits);
      described = {
        format: 'docsift-bundle',
        bundle_type: manifest.type,
        signature: verifyManifest(await secretKey(), manifest),
      };
      load = async (s) => importZip(s, await deps.objects.read(row.object_key), info.size, limits, manifest);
    } else if (head[0] === 0x7b /* { */) {
      let doc: unknown;
      try {
        doc = JSON.parse((await readAll(await deps.objects.read(row.object_key))).toString('utf8'));
      } catch {
        throw new BundleError('The bundle is neither a ZIP archive nor valid JSON (malformed)');
      }
      const content = fromReference(doc);
      described = {
        format: 'reference-json',
        bundle_type: content.type,
        signature: 'unverified',
        skipped: content.skipped,
      };
      load = (s) => importRows(s, content);
    } else {
      throw new BundleError('The bundle is not a ZIP archive or a JSON export (malformed)');
    }
    await deps.db.transaction().execute(async (trx) => {
      const locked = await trx
        .selectFrom('bundle_imports')
        .select('status')
        .where('id', '=', row.id)
        .forUpdate()
        .executeTakeFirst();
      if (locked?.status !== 'processing') return;
      session = new ImportSession(trx, deps.objects, row.workspace_id);
      await load(session);
      const skipped: Record<string, number> = {};
      for (const s of described.skipped ?? [])
        skipped[`skipped_${s.kind}`] = (skipped[`skipped_${s.kind}`] ?? 0) + s.count;
      await trx
        .updateTable('bundle_imports')
        .set({
          status: 'complete',
          format: described.format,
          bundle_type: described.bundle_type,
          signature: described.signature,
          counts: JSON.stringify({ ...session.counts, ...skipped }),
          skipped: JSON.stringify(described.skipped ?? []),
          finished_at: new Date(),
        })
        .where('id', '=', row.id)
        .returning(['id', 'workspace_id', 'status', 'error_message', 'counts'])
        .executeTakeFirstOrThrow()
        .then((done) => recordEvents(trx, [importFinished(done)]));
    });
  } catch (error) {
    // Rows rolled back; files written for them go too.
    for (const folder of session?.storedFolders ?? [])
      await deps.objects.deletePrefix(folder).catch(() => undefined);
    const reason = error instanceof BundleError ? error : refusedData(error);
    if (!reason) throw error;
    deps.log.info('Import refused', { import_id: row.id, reason: reason.reason });
    await failImport(deps.db, row.id, reason.reason);
  }
  await deps.objects.delete(row.object_key);
}

/** The first bytes of a stream (it is then dropped). */
async function firstBytes(stream: AsyncIterable<unknown> & { destroy?: () => void }): Promise<Uint8Array> {
  for await (const chunk of stream) {
    const bytes = chunk as Uint8Array;
    if (bytes.length === 0) continue;
    stream.destroy?.();
    return bytes;
  }
  throw new BundleError('The bundle is empty');
}

/** Fails an import with a reason (unless it finished meanwhile). */
export async function failImport(db: Db, importId: string, reason: string): Promise<void> {
  await db.transaction().execute(async (trx) => {
    const failed = await trx
      .updateTable('bundle_imports')
      .set({ status: 'failed', error_message: reason, finished_at: new Date() })
      .where('id', '=', importId)
      .where('status', 'in', ['awaiting_upload', 'pending', 'processing'])
      .returning(['id', 'workspace_id', 'status', 'error_message', 'counts'])
      .executeTakeFirst();
    if (failed) await recordEvents(trx, [importFinished(failed)]);
  });
}
