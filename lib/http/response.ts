import type { APIGatewayProxyStructuredResultV2 } from 'aws-lambda';

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

/** A file download: a 303 to where it was stored, or its bytes as an attachment. */
export function downloadResponse(
  file:
    | { kind: 'stored'; url: string }
    | { kind: 'inline'; body: Buffer; filename: string; contentType: string },
): RawResponse {
  if (file.kind === 'stored') return new RawResponse(303, '', { location: file.url });
  return new RawResponse(
    200,
    file.body.toString('base64'),
    { 'content-type': file.contentType, 'content-disposition': `attachment; filename="${file.filename}"` },
    true,
  );
}
