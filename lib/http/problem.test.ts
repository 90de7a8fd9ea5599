import { describe, expect, it } from 'vitest';
import {
  ConflictError,
  DomainError,
  ForbiddenError,
  NotFoundError,
  PayloadTooLargeError,
  RefusedError,
  TooManyRequestsError,
  UnauthorizedError,
  UnavailableError,
  ValidationError,
} from '#lib/errors.ts';
import { BadRequestError, UnsupportedMediaTypeError } from './errors.ts';
import { toProblem } from './problem.ts';

describe('toProblem', () => {
  it('keeps the detail of errors meant for clients', () => {
    const res = toProblem(new ConflictError('Taken'), 'req-1');
    expect(res.statusCode).toBe(409);
    expect(JSON.parse(res.body!)).toEqual({
      type: 'about:blank',
      title: 'Conflict',
      status: 409,
      detail: 'Taken',
      request_id: 'req-1',
    });
  });

  it('lists validation errors', () => {
    const res = toProblem(new ValidationError([{ location: 'body', path: 'name', message: 'Required' }]));
    expect(JSON.parse(res.body!).errors).toEqual([{ location: 'body', path: 'name', message: 'Required' }]);
  });

  it('hides everything about unexpected errors', () => {
    const error = new Error('connect ECONNREFUSED 10.0.0.5:5432 password=hunter2');
    const res = toProblem(error, 'req-2');
    expect(res.statusCode).toBe(500);
    expect(res.body).not.toContain('ECONNREFUSED');
    expect(res.body).not.toContain('hunter2');
    expect(res.body).not.toContain('at ');
  });

  it('keeps only client errors that middy marks as exposable', () => {
    const exposed = Object.assign(new Error('Unsupported Media Type'), { statusCode: 415, expose: true });
    expect(toProblem(exposed).statusCode).toBe(415);
    const internal = Object.assign(new Error('secret'), { statusCode: 502, expose: false });
    expect(toProblem(internal).statusCode).toBe(500);
  });

  it('maps every domain error to its status, title and headers, keeping the detail', () => {
    const cases: [Error, number, string, Record<string, string>][] = [
      [new RefusedError('Invalid token'), 400, 'Bad Request', {}],
      [new UnauthorizedError(), 401, 'Unauthorized', { 'www-authenticate': 'Bearer' }],
      [new ForbiddenError(), 403, 'Forbidden', {}],
      [new NotFoundError(), 404, 'Not Found', {}],
      [new ConflictError('Taken'), 409, 'Conflict', {}],
      [new PayloadTooLargeError('Too big'), 413, 'Content Too Large', {}],
      [new ValidationError([]), 422, 'Unprocessable Content', {}],
      [new TooManyRequestsError('Slow down', 30), 429, 'Too Many Requests', { 'retry-after': '30' }],
      [new UnavailableError('Queue down'), 503, 'Service Unavailable', {}],
      [
        new UnavailableError('Queue down', { retryAfterSeconds: 5 }),
        503,
        'Service Unavailable',
        { 'retry-after': '5' },
      ],
      [new BadRequestError('Malformed JSON'), 400, 'Bad Request', {}],
      [new UnsupportedMediaTypeError('text/xml'), 415, 'Unsupported Media Type', {}],
    ];
    for (const [error, status, title, headers] of cases) {
      const res = toProblem(error);
      expect(res.statusCode, error.name).toBe(status);
      expect(res.headers).toEqual({ 'content-type': 'application/problem+json', ...headers });
      expect(JSON.parse(res.body!)).toMatchObject({ title, status, detail: error.message });
    }
    expect(new NotFoundError().message).toBe('Not found');
    expect(new UnauthorizedError().message).toBe('Could not validate credentials');
  });

  it('keeps the cause and name of domain errors, which know no HTTP status', () => {
    const cause = new Error('connection reset');
    const error = new UnavailableError('The ingest queue is unavailable; try again', { cause });
    expect(error.name).toBe('UnavailableError');
    expect(error.cause).toBe(cause);
    expect(error).not.toHaveProperty('statusCode');
    expect(JSON.parse(toProblem(error).body!).detail).not.toContain('connection reset');
  });

  it('answers a domain error of no known kind with a bare 500', () => {
    const res = toProblem(new DomainError('internal detail'));
    expect(res.statusCode).toBe(500);
    expect(res.body).not.toContain('internal detail');
  });
});
