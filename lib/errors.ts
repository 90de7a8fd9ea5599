/**
 * Domain errors: what services, workers and ports raise when a request cannot be honoured.
 * They know nothing of HTTP; the HTTP kit maps them to problem responses in one place
 * (`lib/http/problem.ts`), and workers turn them into a job's or run's failure reason.
 */

/** One field that failed validation, as listed in a problem response's `errors`. */
export type FieldError = { location: 'path' | 'query' | 'body' | 'header'; path: string; message: string };

type Options = { cause?: unknown };

/** Base of every domain error; its message is meant for the client, so never put secrets in it. */
export class DomainError extends Error {
  override name = 'DomainError';
  constructor(message: string, options?: Options) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
  }
}

/** The resource does not exist, or the caller may not know that it does. */
export class NotFoundError extends DomainError {
  override name = 'NotFoundError';
  constructor(detail = 'Not found', options?: Options) {
    super(detail, options);
  }
}

/** The resource existed but is no more to be had: an expired or used-up share link. */
export class GoneError extends DomainError {
  override name = 'GoneError';
}

/** The change clashes with the resource's current state (a taken name, a running job). */
export class ConflictError extends DomainError {
  override name = 'ConflictError';
}

/** The input failed validation; `errors` says which fields and why. */
export class ValidationError extends DomainError {
  override name = 'ValidationError';
  constructor(
    readonly errors: FieldError[],
    options?: Options,
  ) {
    super('The request did not pass validation', options);
  }
}

/** The request is refused as a whole, with no one field to blame (a spent token, a wrong password). */
export class RefusedError extends DomainError {
  override name = 'RefusedError';
}

/** The caller is known but may not do this. */
export class ForbiddenError extends DomainError {
  override name = 'ForbiddenError';
  constructor(detail = 'Not enough privileges', options?: Options) {
    super(detail, options);
  }
}

/** The caller's credentials are missing or invalid. */
export class UnauthorizedError extends DomainError {
  override name = 'UnauthorizedError';
  constructor(detail = 'Could not validate credentials', options?: Options) {
    super(detail, options);
  }
}

/** Too many attempts; the next one may succeed in `retryAfterSeconds`. */
export class TooManyRequestsError extends DomainError {
  override name = 'TooManyRequestsError';
  constructor(
    detail: string,
    readonly retryAfterSeconds: number,
    options?: Options,
  ) {
    super(detail, options);
  }
}

/** A dependency (queue, scheduler, database) refused; nothing changed, a retry may succeed. */
export class UnavailableError extends DomainError {
  override name = 'UnavailableError';
  constructor(detail: string, options?: Options & { retryAfterSeconds?: number }) {
    super(detail, options);
    this.retryAfterSeconds = options?.retryAfterSeconds;
  }
  readonly retryAfterSeconds: number | undefined;
}

/** The input is larger than allowed. */
export class PayloadTooLargeError extends DomainError {
  override name = 'PayloadTooLargeError';
}
