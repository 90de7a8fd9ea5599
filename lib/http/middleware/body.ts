import type { MiddlewareObj } from '@middy/core';
import jsonBodyParser from '@middy/http-json-body-parser';
import urlencodeBodyParser from '@middy/http-urlencode-body-parser';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { BadRequestError, UnsupportedMediaTypeError } from '../errors.ts';
import type { Route } from '../route.ts';

const JSON_TYPE = /^application\/(?:[a-z0-9.+-]+\+)?json(?:\s*;|$)/i;
const FORM_TYPE = /^application\/x-www-form-urlencoded(?:\s*;|$)/i;
const MEDIA_TYPES = { json: 'application/json', form: 'application/x-www-form-urlencoded' } as const;

const json = jsonBodyParser();
const form = urlencodeBodyParser();

/**
 * Parses the body by its content type, with middy's parsers, among the types the route accepts.
 * Routes without a body schema ignore any body. Malformed JSON is a 400 (middy says 422, which
 * this API keeps for values that fail validation); an unaccepted media type is a 415.
 */
export function bodyParser(route: Route): MiddlewareObj<APIGatewayProxyEventV2> {
  const accepted = route.bodyTypes ?? ['json'];
  return {
    before: async (request) => {
      const event = request.event as APIGatewayProxyEventV2 & { body?: unknown };
      if (!route.body) {
        event.body = undefined;
        return;
      }
      const contentType = event.headers?.['content-type'] ?? '';
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
      } else {
        const names = accepted.map((t) => MEDIA_TYPES[t]).join(' or ');
        throw new UnsupportedMediaTypeError(`Send the body as ${names}`);
      }
    },
  };
}
