import type { APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import type { ExportOut } from '#lib/services/exports.ts';
import type { ExportAnswer } from '#lib/services/file-exports.ts';
import { API } from './routes/paths.ts';
import { ExportPublic } from './schemas/bundles.ts';

/**
 * A response a handler builds itself (HTML, a file, a redirect), bypassing the route's JSON
 * schema. Everything else a handler returns is the route's JSON body.
 */
export class RawResponse {
  constructor(
    readonly statusCode: number,
    readonly body: string,
    readonly headers: Record<string, string>,
    readonly isBase64Encoded = false,
  ) {}

  toResult(): APIGatewayProxyStructuredResultV2 {
    return {
      statusCode: this.statusCode,
      headers: this.headers,
      body: this.body,
      isBase64Encoded: this.isBase64Encoded,
    };
  }
}

/**
 * An export's answer: its bytes as an attachment, a 303 to where it was stored, or a 202 with
 * the export being written in the background and its `location` to poll.
 */
export function downloadResponse(file: ExportAnswer<ExportOut>): RawResponse {
  if (file.kind === 'stored') return new RawResponse(303, '', { location: file.url });
  if (file.kind === 'deferred')
    return new RawResponse(202, JSON.stringify(ExportPublic.parse(file.export)), {
      'content-type': 'application/json',
      location: `${API}/workspaces/${file.export.workspace_id}/exports/${file.export.id}`,
    });
  return new RawResponse(
    200,
    file.body.toString('base64'),
    { 'content-type': file.contentType, 'content-disposition': `attachment; filename="${file.filename}"` },
    true,
  );
}
