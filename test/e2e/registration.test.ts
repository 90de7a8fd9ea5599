import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '#test/support/app.ts';

// A file of its own: the local runtime holds one config per process.
let app: TestApp;

beforeAll(async () => {
  app = await startTestApp({ USERS_OPEN_REGISTRATION: 'true' });
});
afterAll(() => app.stop());

describe('POST /api/v1/users/open with USERS_OPEN_REGISTRATION=true', () => {
  it('registers a plain user; a taken email is a 409', async () => {
    const body = {
      email: 'Fresh@example.com',
      password: 'password-123',
      full_name: 'Fresh',
      is_superuser: true,
    };
    const res = await app.api.post('/api/v1/users/open', { json: body });
    expect(res.status).toBe(201);
    // is_superuser is not a field of registration: ignored.
    expect(res.body).toMatchObject({
      email: 'fresh@example.com',
      full_name: 'Fresh',
      is_superuser: false,
      is_active: true,
    });
    expect(await app.api.login('fresh@example.com', 'password-123')).toBeTypeOf('string');

    const again = await app.api.post('/api/v1/users/open', { json: { ...body, email: 'FRESH@example.com' } });
    expect(again.status).toBe(409);
    expect(again.body.detail).toBe('A user with this email already exists');
  });

  it.each([
    ['12345678', 'Password is one of the ten most common passwords'],
    ['password', 'Password is one of the ten most common passwords'],
    ['        ', 'Password must not be only whitespace'],
    ['qwertyuiop', 'Password is one of the hundred most common passwords'],
    ['Password1!', 'Password is too similar to a commonly used password'],
    ['bobby.tables@example.com', 'Password is too close to your email address'],
    ['é'.repeat(37), 'Password must be at most 72 bytes (UTF-8)'],
  ])('refuses the weak password %j with a 422 naming the field and the reason', async (password, message) => {
    const res = await app.api.post('/api/v1/users/open', {
      json: { email: 'bobby.tables@example.com', password },
    });
    expect(res.status).toBe(422);
    expect(res.body.errors).toEqual([{ location: 'body', path: 'password', message }]);
  });

  it('validates the registration: short password, bad email', async () => {
    const res = await app.api.post('/api/v1/users/open', { json: { email: 'nope', password: 'short' } });
    expect(res.status).toBe(422);
    expect(res.body.errors.map((e: { path: string }) => e.path).sort()).toEqual(['email', 'password']);
  });
});
