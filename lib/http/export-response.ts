import { EXPORT_CONTENT_TYPES, EXPORTS_PREFIX, type ExportFormat } from '#lib/classify/export.ts';
import { config } from '#lib/config.ts';
import { platform } from '#lib/platform.ts';
import { RawResponse } from './response.ts';

/**
 * The answer to an export: the file inline, or, over `EXPORT_INLINE_MAX_BYTES`, stored under
 * `exports/` and answered with a 303 to a short-lived download link. API Gateway and Lambda
 * answer in one piece of at most 6 MB; the local store signs no links, so it answers inline.
 *
 * @example return exportResponse(exportResults(rows, 'csv', columns, false), { format: 'csv', filename: 'job-1.csv', workspaceId })
 */
export async function exportResponse(
  chunks: AsyncIterable<string>,
  file: { format: ExportFormat; filename: string; workspaceId: string },
): Promise<RawResponse> {
  const parts: string[] = [];
  for await (const chunk of chunks) parts.push(chunk);
  const body = Buffer.from(parts.join(''));
  const { objects } = platform();
  if (body.length > config().exportInlineMaxBytes && objects.signsDownloads) {
    const key = `${EXPORTS_PREFIX}${file.workspaceId}/${Date.now()}-${file.filename}`;
    await objects.put(key, body, EXPORT_CONTENT_TYPES[file.format]);
    const url = await objects.presignDownload(key, file.filename);
    return new RawResponse(303, '', { location: url! });
  }
  return new RawResponse(
    200,
    body.toString('base64'),
    {
      'content-type': EXPORT_CONTENT_TYPES[file.format],
      'content-disposition': `attachment; filename="${file.filename}"`,
    },
    true,
  );
}
