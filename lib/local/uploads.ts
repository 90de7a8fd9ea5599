import type { IncomingMessage, ServerResponse } from 'node:http';
import busboy from 'busboy';
import { importOfKey } from '#lib/bundles/keys.ts';
import { db } from '#lib/db/database.ts';
import { problemResponse } from '#lib/http/problem.ts';
import { datasourceOfKey } from '#lib/ingest/messages.ts';
import type { LocalObjectStore } from '#lib/ports/objects/local.ts';

function reply(res: ServerResponse, status: number, detail?: string): void {
  if (status === 204) {
    res.writeHead(204).end();
    return;
  }
  const problem = problemResponse(status, detail === undefined ? {} : { detail });
  res.writeHead(status, problem.headers as Record<string, string>).end(problem.body);
}

/**
 * Why an upload to `key` is refused, or undefined when its datasource awaits exactly this key.
 * S3 cannot refuse a signed form; the local endpoint can, and does (the worker also deletes
 * what arrives anyway, as it must in S3).
 */
export async function uploadRefusal(key: string): Promise<{ status: number; detail: string } | undefined> {
  const bundle = importOfKey(key);
  if (bundle) {
    const row = await (await db())
      .selectFrom('bundle_imports')
      .select('status')
      .where('id', '=', bundle.importId)
      .where('workspace_id', '=', bundle.workspaceId)
      .executeTakeFirst();
    if (!row) return { status: 404, detail: 'The import of this upload no longer exists' };
    if (row.status !== 'awaiting_upload')
      return {
        status: 409,
        detail: 'The import is not awaiting this upload: its bundle was received already',
      };
    return undefined;
  }
  const owner = datasourceOfKey(key);
  if (!owner) return { status: 403, detail: 'The key belongs to no datasource' };
  const source = await (await db())
    .selectFrom('datasources')
    .select(['status', 'object_key'])
    .where('id', '=', owner.datasourceId)
    .where('workspace_id', '=', owner.workspaceId)
    .executeTakeFirst();
  if (!source) return { status: 404, detail: 'The datasource of this upload no longer exists' };
  if (source.status === 'deleting') return { status: 409, detail: 'The datasource is being deleted' };
  if (source.status !== 'awaiting_upload' || source.object_key !== key)
    return {
      status: 409,
      detail: 'The datasource is not awaiting this upload: its file was received already',
    };
  return undefined;
}

/**
 * The local stand-in for S3's browser form POST: fields first (key, policy, signature), then
 * `file`, streamed and cut off past the policy's size limit (400, like S3's EntityTooLarge),
 * stored, and announced to the ingest queue by the store, as an S3 notification would be.
 * Refused (404/409) unless the key's datasource is `awaiting_upload` for that key.
 */
export function handleLocalUpload(store: LocalObjectStore, req: IncomingMessage, res: ServerResponse): void {
  let parser: busboy.Busboy;
  try {
    parser = busboy({ headers: req.headers, limits: { files: 1, fields: 20 } });
  } catch {
    reply(res, 400, 'Send the upload as multipart/form-data');
    return;
  }
  const fields: Record<string, string> = {};
  let settled = false;
  const finish = (status: number, detail?: string) => {
    if (settled) return;
    settled = true;
    reply(res, status, detail);
    req.unpipe(parser);
    req.resume();
  };
  parser.on('field', (name, value) => {
    fields[name] = value;
  });
  let sawFile = false;
  parser.on('file', (_field, stream) => {
    sawFile = true;
    const check = store.verifyUpload(fields);
    if (!check.ok) {
      stream.resume();
      finish(403, check.reason);
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    stream.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > check.policy.max_bytes) {
        finish(
          400,
          `Your proposed upload exceeds the maximum allowed size of ${check.policy.max_bytes} bytes`,
        );
        stream.resume();
        return;
      }
      chunks.push(chunk);
    });
    stream.on('end', () => {
      if (settled) return;
      if (size === 0) return finish(400, 'The file is empty');
      const key = check.policy.key;
      uploadRefusal(key)
        .then(async (refusal) => {
          if (refusal) return finish(refusal.status, refusal.detail);
          await store.put(key, Buffer.concat(chunks));
          finish(204);
        })
        .catch(() => finish(500, 'The upload could not be stored'));
    });
  });
  parser.on('error', () => finish(400, 'The multipart body is malformed'));
  parser.on('close', () => {
    if (!sawFile) finish(400, 'The form has no file field');
  });
  req.pipe(parser);
}
