import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SUPERUSER, startTestApp, type TestApp } from '#test/support/app.ts';

let app: TestApp;
let adminToken: string;

beforeAll(async () => {
  app = await startTestApp({ FRONTEND_URL: 'https://app.example.com' });
  adminToken = await app.api.login(SUPERUSER.email, SUPERUSER.password);
});
afterAll(() => app.stop());

const outbox = () => path.join(app.dataDir, 'outbox');

async function mailsTo(email: string): Promise<{ to: string; subject: string; text: string }[]> {
  const files = await readdir(outbox()).catch(() => [] as string[]);
  const mails = await Promise.all(
    files.sort().map(async (f) => JSON.parse(await readFile(path.join(outbox(), f), 'utf8'))),
  );
  return mails.filter((m) => m.to === email);
}

async function requestToken(email: string): Promise<string> {
  const res = await app.api.post(`/api/v1/password-recovery/${encodeURIComponent(email)}`);
  expect(res.status).toBe(200);
  const mail = (await mailsTo(email)).at(-1)!;
  const token = /reset-password\?token=([\w-]+)/.exec(mail.text)?.[1];
  expect(token).toBeDefined();
  return token!;
}

describe('password recovery', () => {
  it('mails a reset link to the outbox and answers the same for unknown emails', async () => {
    const user = await app.api.newUser(adminToken);
    const known = await app.api.post(`/api/v1/password-recovery/${user.email}`);
    const unknown = await app.api.post('/api/v1/password-recovery/nobody@example.com');
    expect(known.status).toBe(200);
    expect(unknown.status).toBe(200);
    expect(unknown.body).toEqual(known.body);

    const mails = await mailsTo(user.email);
    expect(mails).toHaveLength(1);
    expect(mails[0]!.text).toContain('https://app.example.com/reset-password?token=');
    expect(await mailsTo('nobody@example.com')).toEqual([]);
  });

  it('resets the password with the token, once', async () => {
    const user = await app.api.newUser(adminToken);
    const token = await requestToken(user.email);
    const reset = await app.api.post('/api/v1/reset-password', {
      json: { token, new_password: 'brand-new-pass' },
    });
    expect(reset.status).toBe(200);
    expect(await app.api.login(user.email, 'brand-new-pass')).toBeTypeOf('string');
    await expect(app.api.login(user.email, user.password)).rejects.toThrow(/400/);

    const replay = await app.api.post('/api/v1/reset-password', {
      json: { token, new_password: 'another-pass-1' },
    });
    expect(replay.status).toBe(400);
    expect(replay.body.detail).toBe('Invalid token');
  });

  it('revokes the access tokens issued before the reset', async () => {
    const user = await app.api.newUser(adminToken);
    const token = await requestToken(user.email);
    expect((await app.api.get('/api/v1/users/me', { token: user.token })).status).toBe(200);
    const reset = await app.api.post('/api/v1/reset-password', {
      json: { token, new_password: 'brand-new-pass' },
    });
    expect(reset.status).toBe(200);
    const old = await app.api.get('/api/v1/users/me', { token: user.token });
    expect(old.status).toBe(401);
    expect(old.body.detail).toBe('Token revoked');
    const fresh = await app.api.login(user.email, 'brand-new-pass');
    expect((await app.api.get('/api/v1/users/me', { token: fresh })).status).toBe(200);
  });

  it('refuses forged and expired tokens', async () => {
    const user = await app.api.newUser(adminToken);
    const forged = await app.api.post('/api/v1/reset-password', {
      json: { token: 'made-up-token', new_password: 'brand-new-pass' },
    });
    expect(forged.status).toBe(400);

    const token = await requestToken(user.email);
    const db = await app.db();
    await db
      .updateTable('password_reset_tokens')
      .set({ expires_at: sql<Date>`now() - interval '1 minute'` })
      .execute();
    const expired = await app.api.post('/api/v1/reset-password', {
      json: { token, new_password: 'brand-new-pass' },
    });
    expect(expired.status).toBe(400);
    expect(await app.api.login(user.email, user.password)).toBeTypeOf('string');
  });

  it('keeps the stored token secret: only a hash is in the database', async () => {
    const user = await app.api.newUser(adminToken);
    const token = await requestToken(user.email);
    const db = await app.db();
    const rows = await db
      .selectFrom('password_reset_tokens')
      .select('token_hash')
      .where('user_id', '=', user.id)
      .execute();
    expect(rows).toHaveLength(1);
    expect(rows[0]!.token_hash).not.toContain(token);
  });

  it('refuses a weak new password with a 422 and leaves the link usable', async () => {
    const user = await app.api.newUser(adminToken);
    const token = await requestToken(user.email);
    const weak = await app.api.post('/api/v1/reset-password', { json: { token, new_password: 'password1' } });
    expect(weak.status).toBe(422);
    expect(weak.body.errors).toEqual([
      { location: 'body', path: 'new_password', message: expect.stringMatching(/^Password .*common/) },
    ]);
    const strong = await app.api.post('/api/v1/reset-password', {
      json: { token, new_password: 'brand-new-pass' },
    });
    expect(strong.status).toBe(200);
  });

  it('validates the new password', async () => {
    const res = await app.api.post('/api/v1/reset-password', { json: { token: 'x', new_password: 'short' } });
    expect(res.status).toBe(422);
    expect(res.body.errors[0].path).toBe('new_password');
  });
});
