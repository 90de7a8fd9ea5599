import { config } from '#lib/config.ts';
import { httpHandler } from '#lib/http/handler.ts';
import { bundles } from '#lib/http/routes/bundles.ts';
import { platform } from '#lib/platform.ts';
import { requireImport, createImport as startImport, toImportOut } from '#lib/services/bundles.ts';
import { requireExport, createExport as startExport, toExportOut } from '#lib/services/exports.ts';

const settings = () => {
  const c = config();
  return {
    ingestQueue: c.ingestQueue,
    maxUploadBytes: c.maxUploadBytes,
    maxUncompressedBytes: c.bundleMaxUncompressedBytes,
    uploadUrlExpireSeconds: c.uploadUrlExpireSeconds,
  };
};

export const createExport = httpHandler(bundles.createExport, async ({ db, user, params, body }) =>
  toExportOut(
    platform().objects,
    await startExport(db, platform().queue, user, params.workspace_id, body, settings()),
  ),
);

export const readExport = httpHandler(bundles.readExport, async ({ db, user, params }) =>
  toExportOut(platform().objects, await requireExport(db, user, params.workspace_id, params.export_id)),
);

export const createImport = httpHandler(bundles.createImport, async ({ db, user, params, body, files }) => {
  const sent = files[0]?.bytes ?? (body?.document ? Buffer.from(JSON.stringify(body.document)) : undefined);
  const { row, upload } = await startImport(
    db,
    platform().objects,
    user,
    params.workspace_id,
    body?.share_token
      ? { kind: 'share', token: body.share_token, queue: platform().queue }
      : sent
        ? { kind: 'bytes', bytes: sent }
        : { kind: 'upload' },
    settings(),
  );
  return toImportOut(row, upload);
});

export const readImport = httpHandler(bundles.readImport, async ({ db, user, params }) =>
  toImportOut(await requireImport(db, user, params.workspace_id, params.import_id)),
);
