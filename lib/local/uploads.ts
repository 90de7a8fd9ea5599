import type { IncomingMessage, ServerResponse } from 'node:http';
import busboy from 'busboy';
import { problemResponse } from '#lib/http/problem.ts';
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
 * The local stand-in for S3's browser form POST: fields first (key, policy, signature), then
 * `file`, streamed and cut off past the policy's size limit (400, like S3's EntityTooLarge),
 * stored, and announced to the ingest queue by the store, as an S3 notification would be.
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
      store.put(check.policy.key, Buffer.concat(chunks)).then(
        () => finish(204),
        () => finish(500, 'The upload could not be stored'),
      );
    });
  });
  parser.on('error', () => finish(400, 'The multipart body is malformed'));
  parser.on('close', () => {
    if (!sawFile) finish(400, 'The form has no file field');
  });
  req.pipe(parser);
}
