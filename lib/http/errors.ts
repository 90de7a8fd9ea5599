import type { FieldError } from '#lib/errors.ts';

// The web layer imports both kinds of error from here: domain errors (raised by services, mapped
// in problem.ts) are re-exported, HTTP-only ones (malformed request, media type) are defined below.
export {
  ConflictError,
  DomainError,
  type FieldError,
  ForbiddenError,
  NotFoundError,
  PayloadTooLargeError,
  RefusedError,
  TooManyRequestsError,
  UnauthorizedError,
  UnavailableError,
  ValidationError,
} from '#lib/errors.ts';

/**
 * Base of the errors only the web layer raises (a malformed body, an unsupported media type),
 * each knowing its HTTP status. Services raise domain errors (`lib/errors.ts`) instead.
 */
export class HttpError extends Error {
  override name = 'HttpError';
  constructor(
    readonly statusCode: number,
    readonly title: string,
    readonly detail?: string,
    options?: { cause?: unknown; errors?: FieldError[]; headers?: Record<string, string> },
  ) {
    super(detail ?? title, options?.cause === undefined ? undefined : { cause: options.cause });
    this.errors = options?.errors;
    this.headers = options?.headers;
  }
  readonly errors: FieldError[] | undefined;
  readonly headers: Record<string, string> | undefined;
}

export class BadRequestError extends HttpError {
  override name = 'BadRequestError';
  constructor(detail: string, options?: { cause?: unknown }) {
    super(400, 'Bad Request', detail, options);
  }
}

export class UnsupportedMediaTypeError extends HttpError {
  override name = 'UnsupportedMediaTypeError';
  constructor(detail: string) {
    super(415, 'Unsupported Media Type', detail);
  }
}
