import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { problemResponse } from '#lib/http/problem.ts';
import type { LocalObjectStore } from '#lib/ports/objects/local.ts';

function reply(res: ServerResponse, status: number, detail: string): void {
  const problem = problemResponse(status, { detail });
  res.writeHead(status, problem.headers as Record<string, string>).end(problem.body);
}

/**
 * The local stand-in for a presigned S3 GET: a signed, expiring link streams the object's
 * file, so a bundle of any size downloads without passing through a handler's 6 MB answer.
 */
export async function handleLocalDownload(
  store: LocalObjectStore,
  req: IncomingMessage,
  res: ServerResponse,
  query: URLSearchParams,
): Promise<void> {
  const check = store.verifyDownload(query);
  if (!check.ok) return reply(res, 403, check.reason);
  let file: string;
  let size: number;
  try {
    file = store.pathOf(check.key);
    size = (await stat(file)).size;
  } catch {
    return reply(res, 404, 'No such object');
  }
  res.writeHead(200, {
    'content-type': 'application/octet-stream',
    'content-length': String(size),
    'content-disposition': `attachment; filename*=UTF-8''${encodeURIComponent(check.filename)}`,
    'cache-control': 'no-store',
  });
  if (req.method === 'HEAD') return void res.end();
  const stream = createReadStream(file);
  stream.on('error', () => res.destroy());
  stream.pipe(res);
}
