import { sql } from 'kysely';
import { DOCS_ASSETS, DOCS_INIT_SCRIPT, docsPage, readDocsAsset } from '#lib/http/docs.ts';
import { HttpError, NotFoundError } from '#lib/http/errors.ts';
import { httpHandler } from '#lib/http/handler.ts';
import { RawResponse } from '#lib/http/response.ts';
import { system } from '#lib/http/routes/system.ts';
import { logger } from '#lib/logger.ts';

export const health = httpHandler(system.health, async ({ db }) => {
  try {
    await sql`SELECT 1`.execute(db);
  } catch (error) {
    logger.error('Health check: database unreachable', { error: error as Error });
    throw new HttpError(503, 'Service Unavailable', 'The database is unreachable');
  }
  return { status: 'ok' as const, database: 'ok' as const };
});

let document: string | undefined;

export const openapi = httpHandler(system.openapi, async () => {
  // The whole route table and zod-openapi, loaded by the first request for the document rather
  // than by every start of the health check, which shares this bundle.
  document ??= JSON.stringify((await import('#lib/http/openapi.ts')).openApiDocument());
  return new RawResponse(200, document, { 'content-type': 'application/json' });
});

export const docs = httpHandler(system.docs, async () => docsPage());

export const docsAsset = httpHandler(system.docsAsset, async ({ params }) => {
  if (params.asset === 'init.js') {
    return new RawResponse(200, DOCS_INIT_SCRIPT, { 'content-type': 'text/javascript; charset=utf-8' });
  }
  const file = await readDocsAsset(params.asset);
  if (!file) throw new NotFoundError('No such docs asset');
  return new RawResponse(
    200,
    file.toString('base64'),
    {
      'content-type': DOCS_ASSETS[params.asset]!,
      'cache-control': 'public, max-age=86400',
    },
    true,
  );
});
