/** One field that failed validation, as listed in a problem response's `errors`. */
export type FieldError = { location: 'path' | 'query' | 'body' | 'header'; path: string; message: string };

/**
 * Base of every error that maps to an HTTP status. One place ({@link toProblem}) turns them
 * into RFC 9457 problem responses; anything else becomes a 500 without detail.
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

export class UnauthorizedError extends HttpError {
  override name = 'UnauthorizedError';
  constructor(detail = 'Could not validate credentials') {
    super(401, 'Unauthorized', detail, { headers: { 'www-authenticate': 'Bearer' } });
  }
}

export class ForbiddenError extends HttpError {
  override name = 'ForbiddenError';
  constructor(detail = 'Not enough privileges') {
    super(403, 'Forbidden', detail);
  }
}

export class NotFoundError extends HttpError {
  override name = 'NotFoundError';
  constructor(detail = 'Not found') {
    super(404, 'Not Found', detail);
  }
}

export class ConflictError extends HttpError {
  override name = 'ConflictError';
  constructor(detail: string) {
    super(409, 'Conflict', detail);
  }
}

export class PayloadTooLargeError extends HttpError {
  override name = 'PayloadTooLargeError';
  constructor(detail: string) {
    super(413, 'Content Too Large', detail);
  }
}

export class UnsupportedMediaTypeError extends HttpError {
  override name = 'UnsupportedMediaTypeError';
  constructor(detail: string) {
    super(415, 'Unsupported Media Type', detail);
  }
}

export class ValidationError extends HttpError {
  override name = 'ValidationError';
  constructor(errors: FieldError[]) {
    super(422, 'Unprocessable Content', 'The request did not pass validation', { errors });
  }
}

/** 429: too many attempts; `Retry-After` says in how many seconds the next one may succeed. */
export class TooManyRequestsError extends HttpError {
  override name = 'TooManyRequestsError';
  constructor(detail: string, retryAfterSeconds: number) {
    super(429, 'Too Many Requests', detail, { headers: { 'retry-after': String(retryAfterSeconds) } });
  }
}
