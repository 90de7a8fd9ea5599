import { describe, expect, it } from 'vitest';
import { ConflictError, ValidationError } from './errors.ts';
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
});
