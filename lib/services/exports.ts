import { exportKey } from '#lib/bundles/keys.ts';
import { config } from '#lib/config.ts';
import type { Db } from '#lib/db/database.ts';
import type { BundleExport, BundleType, ExportFileFormat, User } from '#lib/db/schema.ts';
import { NotFoundError, UnavailableError, ValidationError } from '#lib/errors.ts';
import { newId } from '#lib/ids.ts';
import type { ExportBundle } from '#lib/ingest/messages.ts';
import { platform } from '#lib/platform.ts';
import type { ObjectStore } from '#lib/ports/objects/store.ts';
import type { QueueSender } from '#lib/ports/queue/queue.ts';
import { refuseDeletingDatasources, requireWorkspace } from './access.ts';
import { answerExport, DOWNLOAD_LINK_SECONDS, type ExportAnswer, type FileSource } from './file-exports.ts';

/**
 * The export resource (`bundle_exports`): a bundle of a resource or workspace, or a job's
 * results or a dataset as one file, written in the background by the ingest worker
 * (lib/services/bundles.ts `runExport`) and polled, then downloaded through a short-lived link.
 */

export type ExportOut = {
  id: string;
  workspace_id: string;
  type: BundleType;
  resource_id: string | null;
  include_files: boolean;
  format: ExportFileFormat;
  include_text: boolean;
  status: BundleExport['status'];
  error_message: string | null;
  bytes: number | null;
  counts: Record<string, number>;
  download: { url: string; expires_at: string } | null;
  created_at: string;
  finished_at: string | null;
};

/** An export as the API shows it: a fresh short-lived download link once complete. */
export async function toExportOut(objects: ObjectStore, e: BundleExport): Promise<ExportOut> {
  const filename = e.object_key?.slice(e.object_key.lastIndexOf('/') + 1) ?? 'bundle.zip';
  return {
    id: e.id,
    workspace_id: e.workspace_id,
    type: e.type,
    resource_id: e.resource_id,
    include_files: e.include_files,
    format: e.format,
    include_text: e.include_text,
    status: e.status,
    error_message: e.error_message,
    bytes: e.bytes === null ? null : Number(e.bytes),
    counts: e.counts,
    download:
      e.status === 'complete' && e.object_key
        ? {
            url: await objects.downloadLink(e.object_key, filename, DOWNLOAD_LINK_SECONDS),
            expires_at: new Date(Date.now() + DOWNLOAD_LINK_SECONDS * 1000).toISOString(),
          }
        : null,
    created_at: e.created_at.toISOString(),
    finished_at: e.finished_at?.toISOString() ?? null,
  };
}

const RESOURCE_TABLES = {
  datasource: 'datasources',
  scheme: 'classification_schemes',
  classification_job: 'classification_jobs',
  dataset: 'datasets',
} as const;

/** The resources that export as a file (a job's results, a dataset's members); all export as bundles. */
const FILE_TYPES: BundleType[] = ['classification_job', 'dataset'];

export type ExportInput = {
  type: BundleType;
  resource_id?: string | undefined;
  include_files?: boolean | undefined;
  /** `bundle` (the default): a ZIP bundle; csv, jsonl or json: a job's results or a dataset as one file. */
  format?: ExportFileFormat | undefined;
  include_text?: boolean | undefined;
};

/**
 * Starts an export of a resource of the caller's workspace (404 for anything not theirs): a
 * row to poll, and a message for the ingest worker, sent after the row commits.
 */
export async function createExport(
  db: Db,
  queue: QueueSender,
  user: Pick<User, 'id'>,
  workspaceId: string,
  input: ExportInput,
  settings: { ingestQueue: string },
): Promise<BundleExport> {
  await requireWorkspace(db, user, workspaceId);
  const format = input.format ?? 'bundle';
  if (format !== 'bundle' && !FILE_TYPES.includes(input.type))
    throw new ValidationError([
      {
        location: 'body',
        path: 'format',
        message: `A ${input.type.replace('_', ' ')} exports as a bundle only; csv, jsonl and json are for a classification_job or a dataset`,
      },
    ]);
  if (input.type !== 'workspace') {
    const found = input.resource_id
      ? await db
          .selectFrom(RESOURCE_TABLES[input.type])
          .select('id')
          .where('id', '=', input.resource_id)
          .where('workspace_id', '=', workspaceId)
          .executeTakeFirst()
      : undefined;
    if (!found)
      throw new NotFoundError(
        `No ${input.type.replace('_', ' ')} ${input.resource_id ?? ''} in this workspace`.trim(),
      );
    if (input.type === 'datasource') await refuseDeletingDatasources(db, input.resource_id);
  }
  const row = await db
    .insertInto('bundle_exports')
    .values({
      id: newId(),
      workspace_id: workspaceId,
      user_id: user.id,
      type: input.type,
      resource_id: input.type === 'workspace' ? workspaceId : input.resource_id!,
      include_files: format === 'bundle' && (input.include_files ?? false),
      format,
      include_text: format !== 'bundle' && (input.include_text ?? false),
      status: 'pending',
    })
    .returningAll()
    .executeTakeFirstOrThrow();
  try {
    await queue.send(settings.ingestQueue, [
      { kind: 'export_bundle', export_id: row.id } satisfies ExportBundle,
    ]);
  } catch (cause) {
    await db.deleteFrom('bundle_exports').where('id', '=', row.id).execute();
    throw new UnavailableError('The ingest queue is unavailable; try again', { cause });
  }
  return row;
}

/** An export of the caller's workspace, or 404. */
export async function requireExport(db: Db, user: Pick<User, 'id'>, workspaceId: string, id: string) {
  await requireWorkspace(db, user, workspaceId);
  const row = await db
    .selectFrom('bundle_exports')
    .selectAll()
    .where('id', '=', id)
    .where('workspace_id', '=', workspaceId)
    .executeTakeFirst();
  if (!row) throw new NotFoundError('Export not found');
  return row;
}

/** What a workspace's export route needs besides the database. */
export type MemberExportDeps = {
  objects: ObjectStore;
  queue: QueueSender;
  ingestQueue: string;
  inlineMaxBytes: number;
};

/** {@link MemberExportDeps} of the process (its adapters and config). */
function defaultMemberExportDeps(): MemberExportDeps {
  const { objects, queue } = platform();
  const c = config();
  return { objects, queue, ingestQueue: c.ingestQueue, inlineMaxBytes: c.exportInlineMaxBytes };
}

/**
 * The answer of a workspace's export route (a job's results, a dataset): the file inline up to
 * `inlineMaxBytes`, else the same export started in the background, to poll.
 */
export function answerMemberExport(
  db: Db,
  user: Pick<User, 'id'>,
  workspaceId: string,
  file: FileSource,
  input: { type: 'classification_job' | 'dataset'; resource_id: string; include_text: boolean },
  deps: MemberExportDeps = defaultMemberExportDeps(),
): Promise<ExportAnswer<ExportOut>> {
  return answerExport(deps.objects, file, {
    inlineMaxBytes: deps.inlineMaxBytes,
    large: {
      defer: async () =>
        toExportOut(
          deps.objects,
          await createExport(db, deps.queue, user, workspaceId, { ...input, format: file.format }, deps),
        ),
    },
  });
}

/**
 * The answer of a share link's export route: inline up to `inlineMaxBytes`, else streamed to
 * the store (bounded memory, within the request's time) and handed out as a short-lived link.
 */
export function answerLinkExport(
  objects: ObjectStore,
  workspaceId: string,
  file: FileSource,
  inlineMaxBytes: number,
): Promise<ExportAnswer<never>> {
  return answerExport<never>(objects, file, {
    inlineMaxBytes,
    large: { storeAt: exportKey(workspaceId, newId(), file.filename) },
  });
}
