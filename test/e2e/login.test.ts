import jwt from 'jsonwebtoken';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SUPERUSER, startTestApp, TEST_SECRET_KEY, type TestApp } from '#test/support/app.ts';

let app: TestApp;
let adminToken: string;

beforeAll(async () => {
  app = await startTestApp();
  adminToken = await app.api.login(SUPERUSER.email, SUPERUSER.password);
});
afterAll(() => app.stop());

describe('POST /api/v1/login/access-token', () => {
  it('accepts the OAuth2 password form and returns a bearer token', async () => {
    const res = await app.api.post('/api/v1/login/access-token', {
      form: { username: SUPERUSER.email, password: SUPERUSER.password, grant_type: 'password' },
    });
    expect(res.status).toBe(200);
    expect(res.body.token_type).toBe('bearer');
    const claims = jwt.verify(res.body.access_token, TEST_SECRET_KEY, {
      algorithms: ['HS256'],
    }) as jwt.JwtPayload;
    expect(claims.sub).toMatch(/^[0-9a-f-]{36}$/);
    // ACCESS_TOKEN_EXPIRE_MINUTES defaults to 8 days.
    expect(claims.exp! - claims.iat!).toBe(11520 * 60);
  });

  it('accepts JSON with the same fields, and emails in any case', async () => {
    const res = await app.api.post('/api/v1/login/access-token', {
      json: { username: SUPERUSER.email.toUpperCase(), password: SUPERUSER.password },
    });
    expect(res.status).toBe(200);
    expect(typeof res.body.access_token).toBe('string');
  });

  it('answers a wrong password and an unknown email alike', async () => {
    const wrong = await app.api.post('/api/v1/login/access-token', {
      form: { username: SUPERUSER.email, password: 'not-the-password' },
    });
    const unknown = await app.api.post('/api/v1/login/access-token', {
      form: { username: 'nobody@example.com', password: 'whatever-123' },
    });
    for (const res of [wrong, unknown]) {
      expect(res.status).toBe(400);
      expect(res.headers.get('content-type')).toBe('application/problem+json');
      expect(res.body).toMatchObject({ status: 400, detail: 'Incorrect email or password' });
    }
  });

  it('refuses an inactive user with "Inactive user"', async () => {
    const user = await app.api.newUser(adminToken);
    await app.api.patch(`/api/v1/users/${user.id}`, { token: adminToken, json: { is_active: false } });
    const res = await app.api.post('/api/v1/login/access-token', {
      form: { username: user.email, password: user.password },
    });
    expect(res.status).toBe(400);
    expect(res.body.detail).toBe('Inactive user');
    // And the token they got while active stops working.
    const me = await app.api.get('/api/v1/users/me', { token: user.token });
    expect(me.status).toBe(403);
    expect(me.body.detail).toBe('Inactive user');
  });

  it('validates the form: a missing password is a 422 naming the field', async () => {
    const res = await app.api.post('/api/v1/login/access-token', { form: { username: SUPERUSER.email } });
    expect(res.status).toBe(422);
    expect(res.body.errors).toEqual([expect.objectContaining({ location: 'body', path: 'password' })]);
  });
});

describe('POST /api/v1/login/test-token and bearer tokens', () => {
  it('returns the token’s user', async () => {
    const res = await app.api.post('/api/v1/login/test-token', { token: adminToken });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ email: SUPERUSER.email, is_superuser: true, is_active: true });
    expect(res.body).not.toHaveProperty('hashed_password');
  });

  const user = { sub: '', exp: 0 };
  it.each([
    ['no token', undefined, 'Not authenticated'],
    ['a malformed token', 'not.a.jwt', 'Could not validate credentials'],
    ['a token signed with another key', 'forged', 'Could not validate credentials'],
    ['an expired token', 'expired', 'Token expired'],
    ['an unsigned (alg none) token', 'none', 'Could not validate credentials'],
    ['a token whose sub is not a user id', 'bad-sub', 'Could not validate credentials'],
    ['a token of a deleted user', 'deleted', 'Could not validate credentials'],
  ])('refuses %s with 401', async (_name, kind, detail) => {
    const me = await app.api.post('/api/v1/login/test-token', { token: adminToken });
    user.sub = me.body.id;
    let token: string | undefined;
    const now = Math.floor(Date.now() / 1000);
    switch (kind) {
      case 'forged':
        token = jwt.sign({ sub: user.sub }, 'another-key-another-key-another-key-!!', { expiresIn: 600 });
        break;
      case 'expired':
        token = jwt.sign({ sub: user.sub, exp: now - 10 }, TEST_SECRET_KEY);
        break;
      case 'none':
        token = jwt.sign({ sub: user.sub, exp: now + 600 }, '', { algorithm: 'none' });
        break;
      case 'bad-sub':
        token = jwt.sign({ sub: "1' OR '1'='1", exp: now + 600 }, TEST_SECRET_KEY);
        break;
      case 'deleted': {
        const gone = await app.api.newUser(adminToken);
        await app.api.delete(`/api/v1/users/${gone.id}`, { token: adminToken });
        token = gone.token;
        break;
      }
      default:
        token = kind;
    }
    const res = await app.api.post('/api/v1/login/test-token', token ? { token } : {});
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toBe('Bearer');
    expect(res.body).toMatchObject({ status: 401, detail });
  });
});
