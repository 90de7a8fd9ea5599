import type { MiddlewareObj } from '@middy/core';
import jsonBodyParser from '@middy/http-json-body-parser';
import urlencodeBodyParser from '@middy/http-urlencode-body-parser';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import busboy from 'busboy';
import { BadRequestError, PayloadTooLargeError, UnsupportedMediaTypeError } from '../errors.ts';
import { MEDIA_TYPES, type Route } from '../route.ts';

const JSON_TYPE = /^application\/(?:[a-z0-9.+-]+\+)?json(?:\s*;|$)/i;
const FORM_TYPE = /^application\/x-www-form-urlencoded(?:\s*;|$)/i;
const MULTIPART_TYPE = /^multipart\/form-data\s*;/i;

/** Largest file a multipart request may carry: API Gateway and Lambda cap the whole request. */
export const MAX_MULTIPART_FILE_BYTES = 5 * 1024 * 1024;

export type MultipartFile = { field: string; filename: string; contentType: string; bytes: Buffer };

// The files of a multipart request, beside its parsed fields (the body).
const files = new WeakMap<APIGatewayProxyEventV2, MultipartFile[]>();

/** The files a multipart request carried (none for other requests). */
export function filesOf(event: APIGatewayProxyEventV2): MultipartFile[] {
  return files.get(event) ?? [];
}

const json = jsonBodyParser();
const form = urlencodeBodyParser();

/**
 * Parses a multipart form with busboy: fields into an object, with `options` read as JSON
 * (malformed → 400), files kept apart. A file over the limit → 413.
 */
function parseMultipart(
  event: APIGatewayProxyEventV2,
): Promise<{ fields: Record<string, unknown>; files: MultipartFile[] }> {
  const raw = Buffer.from(event.body ?? '', event.isBase64Encoded ? 'base64' : 'utf8');
  return new Promise((resolve, reject) => {
    const fields: Record<string, unknown> = {};
    const parsed: MultipartFile[] = [];
    let failed: Error | undefined;
    let parser: busboy.Busboy;
    try {
      parser = busboy({
        headers: { 'content-type': event.headers?.['content-type'] ?? '' },
        limits: { fileSize: MAX_MULTIPART_FILE_BYTES, files: 100, fields: 20 },
      });
    } catch (cause) {
      // busboy throws at once on a content type it cannot read, most often one without boundary.
      reject(
        new BadRequestError(
          'The multipart/form-data content type needs a boundary parameter (multipart/form-data; boundary=…)',
          { cause },
        ),
      );
      return;
    }
    parser.on('field', (name, value) => {
      if (name !== 'options') {
        fields[name] = value;
        return;
      }
      try {
        fields.options = JSON.parse(value);
      } catch (cause) {
        failed ??= new BadRequestError('The options field is not valid JSON', { cause });
      }
    });
    parser.on('file', (field, stream, info) => {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('limit', () => {
        failed ??= new PayloadTooLargeError(
          `Files sent with the request are limited to ${MAX_MULTIPART_FILE_BYTES} bytes; use the presigned upload for bigger ones`,
        );
      });
      stream.on('end', () =>
        parsed.push({
          field,
          filename: info.filename ?? field,
          contentType: info.mimeType,
          bytes: Buffer.concat(chunks),
        }),
      );
    });
    parser.on('error', (cause) => reject(new BadRequestError('The multipart body is malformed', { cause })));
    parser.on('close', () => (failed ? reject(failed) : resolve({ fields, files: parsed })));
    parser.end(raw);
  });
}

/**
 * Parses the body by its content type, with middy's parsers (and busboy for multipart), among
 * the types the route accepts. Routes without a body schema ignore any body, and a route whose
 * body is optional takes a request without one (no content type, no bytes). Malformed JSON is
 * a 400 (middy says 422, which this API keeps for values that fail validation); an unaccepted
 * media type is a 415.
 */
export function bodyParser(route: Route): MiddlewareObj<APIGatewayProxyEventV2> {
  const accepted = route.bodyTypes ?? ['json'];
  const schema = route.body;
  // Synchronous where there is nothing to parse (most GETs): no promise for middy to wait on.
  if (!schema) {
    return {
      before: (request) => {
        request.event.body = undefined;
      },
    };
  }
  return {
    before: async (request) => {
      const event = request.event;
      const contentType = event.headers?.['content-type'] ?? '';
      // No body at all, where the route's body is optional (an import without one): nothing to parse.
      if (!contentType && !event.body && schema.safeParse(undefined).success) {
        event.body = undefined;
        return;
      }
      if (JSON_TYPE.test(contentType) && accepted.includes('json')) {
        try {
          await json.before?.(request as never);
        } catch (error) {
          const { statusCode, message } = error as { statusCode?: number; message?: string };
          if (statusCode === 422 && message === 'Forbidden key in JSON body') {
            throw new BadRequestError('The JSON body contains a forbidden key (__proto__ or constructor)', {
              cause: error,
            });
          }
          if (statusCode === 422)
            throw new BadRequestError('The request body is not valid JSON', { cause: error });
          throw error;
        }
      } else if (FORM_TYPE.test(contentType) && accepted.includes('form')) {
        await form.before?.(request as never);
      } else if (MULTIPART_TYPE.test(contentType) && accepted.includes('multipart')) {
        const parsed = await parseMultipart(request.event);
        files.set(request.event, parsed.files);
        (event as { body?: unknown }).body = parsed.fields;
      } else {
        const names = accepted.map((t) => MEDIA_TYPES[t]).join(' or ');
        throw new UnsupportedMediaTypeError(`Send the body as ${names}`);
      }
    },
  };
}
