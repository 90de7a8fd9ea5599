import type { APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { databaseBusyReason } from '#lib/db/errors.ts';
import {
  ConflictError,
  DomainError,
  ForbiddenError,
  GoneError,
  NotFoundError,
  PayloadTooLargeError,
  RefusedError,
  TooManyRequestsError,
  UnauthorizedError,
  UnavailableError,
  ValidationError,
} from '#lib/errors.ts';
import { HttpError } from './errors.ts';

const STATUS_TITLES: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  406: 'Not Acceptable',
  409: 'Conflict',
  410: 'Gone',
  413: 'Content Too Large',
  415: 'Unsupported Media Type',
  422: 'Unprocessable Content',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
};

/**
 * Builds an RFC 9457 problem response. `detail` is shown to the client, so only callers that
 * know it is safe pass one.
 */
export function problemResponse(
  status: number,
  options: { detail?: string; errors?: unknown[]; requestId?: string; headers?: Record<string, string> } = {},
): APIGatewayProxyStructuredResultV2 {
  const body = {
    type: 'about:blank',
    title: STATUS_TITLES[status] ?? 'Error',
    status,
    ...(options.detail !== undefined && { detail: options.detail }),
    ...(options.requestId !== undefined && { request_id: options.requestId }),
    ...(options.errors !== undefined && { errors: options.errors }),
  };
  return {
    statusCode: status,
    headers: { 'content-type': 'application/problem+json', ...options.headers },
    body: JSON.stringify(body),
  };
}

// Each domain error's status; the first class the error is an instance of wins.
const DOMAIN_STATUSES: [new (...args: never[]) => DomainError, number][] = [
  [RefusedError, 400],
  [UnauthorizedError, 401],
  [ForbiddenError, 403],
  [NotFoundError, 404],
  [ConflictError, 409],
  [GoneError, 410],
  [PayloadTooLargeError, 413],
  [ValidationError, 422],
  [TooManyRequestsError, 429],
  [UnavailableError, 503],
];

/** The status, field errors and headers a domain error answers with. */
function domainProblem(error: DomainError): {
  status: number;
  errors?: unknown[];
  headers?: Record<string, string>;
} {
  const status = DOMAIN_STATUSES.find(([type]) => error instanceof type)?.[1] ?? 500;
  if (error instanceof ValidationError) return { status, errors: error.errors };
  if (error instanceof UnauthorizedError) return { status, headers: { 'www-authenticate': 'Bearer' } };
  if (error instanceof TooManyRequestsError)
    return { status, headers: { 'retry-after': String(error.retryAfterSeconds) } };
  if (error instanceof UnavailableError && error.retryAfterSeconds !== undefined)
    return { status, headers: { 'retry-after': String(error.retryAfterSeconds) } };
  return { status };
}

/**
 * Turns any thrown value into a problem response. Only domain errors (`lib/errors.ts`),
 * {@link HttpError}s and middy's exposed 4xx errors keep their message; everything else is a bare 500, so no stack trace or
 * internal message ever reaches a client.
 */
export function toProblem(error: unknown, requestId?: string): APIGatewayProxyStructuredResultV2 {
  if (error instanceof DomainError) {
    const { status, errors, headers } = domainProblem(error);
    // A domain error this table does not know is a bug, not a client's fault: no detail.
    if (status === 500)
      return problemResponse(500, {
        detail: 'An unexpected error occurred',
        ...(requestId !== undefined && { requestId }),
      });
    return problemResponse(status, {
      detail: error.message,
      ...(errors && { errors }),
      ...(requestId !== undefined && { requestId }),
      ...(headers && { headers }),
    });
  }
  if (error instanceof HttpError) {
    return problemResponse(error.statusCode, {
      detail: error.detail ?? error.title,
      ...(error.errors && { errors: error.errors }),
      ...(requestId !== undefined && { requestId }),
      ...(error.headers && { headers: error.headers }),
    });
  }
  const e = error as { statusCode?: unknown; expose?: unknown; message?: unknown } | undefined;
  if (typeof e?.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500 && e.expose === true) {
    return problemResponse(e.statusCode, {
      detail: String(e.message),
      ...(requestId !== undefined && { requestId }),
    });
  }
  // A lock or statement timeout: nothing changed, a retry may succeed (Retry-After in seconds).
  const busy = databaseBusyReason(error);
  if (busy) {
    return problemResponse(503, {
      detail: busy,
      headers: { 'retry-after': '5' },
      ...(requestId !== undefined && { requestId }),
    });
  }
  return problemResponse(500, {
    detail: 'An unexpected error occurred',
    ...(requestId !== undefined && { requestId }),
  });
}
