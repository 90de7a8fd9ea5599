import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SUPERUSER, startTestApp, type TestApp } from '#test/support/app.ts';

let app: TestApp;
let adminToken: string;

beforeAll(async () => {
  app = await startTestApp();
  adminToken = await app.api.login(SUPERUSER.email, SUPERUSER.password);
});
afterAll(() => app.stop());

const USER_KEYS = ['created_at', 'email', 'full_name', 'id', 'is_active', 'is_superuser'];

describe('/api/v1/users/me', () => {
  it('reads the caller as {id, email, full_name, is_active, is_superuser, created_at}', async () => {
    const user = await app.api.newUser(adminToken, { full_name: 'Ada' });
    const res = await app.api.get('/api/v1/users/me', { token: user.token });
    expect(res.status).toBe(200);
    expect(Object.keys(res.body).sort()).toEqual(USER_KEYS);
    expect(res.body).toMatchObject({ id: user.id, email: user.email, full_name: 'Ada', is_superuser: false });
    expect(new Date(res.body.created_at).toISOString()).toBe(res.body.created_at);
  });

  it('updates name and email; an email in use is a 409 and changes nothing', async () => {
    const a = await app.api.newUser(adminToken);
    const b = await app.api.newUser(adminToken);
    const renamed = await app.api.patch('/api/v1/users/me', {
      token: a.token,
      json: { full_name: 'New Name', email: `New-${a.email}` },
    });
    expect(renamed.status).toBe(200);
    expect(renamed.body).toMatchObject({ full_name: 'New Name', email: `new-${a.email}` });

    const clash = await app.api.patch('/api/v1/users/me', {
      token: a.token,
      json: { email: b.email, full_name: 'X' },
    });
    expect(clash.status).toBe(409);
    const after = await app.api.get('/api/v1/users/me', { token: a.token });
    expect(after.body.full_name).toBe('New Name');
  });

  it('rejects fields of the wrong type with 422 and their paths', async () => {
    const a = await app.api.newUser(adminToken);
    const res = await app.api.patch('/api/v1/users/me', {
      token: a.token,
      json: { email: 'not-an-email', full_name: 5 },
    });
    expect(res.status).toBe(422);
    expect(res.body.errors.map((e: { path: string }) => e.path).sort()).toEqual(['email', 'full_name']);
  });

  it('changes the password only with the right current one, and not to the same', async () => {
    const a = await app.api.newUser(adminToken, { password: 'first-password' });
    const wrong = await app.api.patch('/api/v1/users/me/password', {
      token: a.token,
      json: { current_password: 'nope-nope', new_password: 'second-password' },
    });
    expect(wrong.status).toBe(400);
    expect(wrong.body.detail).toBe('Incorrect password');
    const same = await app.api.patch('/api/v1/users/me/password', {
      token: a.token,
      json: { current_password: 'first-password', new_password: 'first-password' },
    });
    expect(same.status).toBe(400);
    const ok = await app.api.patch('/api/v1/users/me/password', {
      token: a.token,
      json: { current_password: 'first-password', new_password: 'second-password' },
    });
    expect(ok.status).toBe(200);
    await expect(app.api.login(a.email, 'first-password')).rejects.toThrow(/400/);
    expect(await app.api.login(a.email, 'second-password')).toBeTypeOf('string');
  });

  it('refuses a weak new password with a 422 on new_password, and keeps the old one', async () => {
    const a = await app.api.newUser(adminToken, { password: 'first-password' });
    const weak = await app.api.patch('/api/v1/users/me/password', {
      token: a.token,
      json: { current_password: 'first-password', new_password: '12345678' },
    });
    expect(weak.status).toBe(422);
    expect(weak.body.errors).toEqual([
      { location: 'body', path: 'new_password', message: 'Password is one of the ten most common passwords' },
    ]);
    expect(await app.api.login(a.email, 'first-password')).toBeTypeOf('string');
  });

  it('revokes every token issued before a password change; a token from the new login works', async () => {
    const a = await app.api.newUser(adminToken, { password: 'first-password' });
    const other = await app.api.login(a.email, 'first-password');
    const ok = await app.api.patch('/api/v1/users/me/password', {
      token: a.token,
      json: { current_password: 'first-password', new_password: 'second-password' },
    });
    expect(ok.status).toBe(200);
    for (const old of [a.token, other]) {
      const res = await app.api.get('/api/v1/users/me', { token: old });
      expect(res.status).toBe(401);
      expect(res.body.detail).toBe('Token revoked');
    }
    const fresh = await app.api.login(a.email, 'second-password');
    expect((await app.api.get('/api/v1/users/me', { token: fresh })).status).toBe(200);
    // Changing something else than the password keeps tokens valid.
    await app.api.patch('/api/v1/users/me', { token: fresh, json: { full_name: 'Still me' } });
    expect((await app.api.get('/api/v1/users/me', { token: fresh })).status).toBe(200);
  });

  it('revokes the tokens of a user whose password a superuser sets', async () => {
    const a = await app.api.newUser(adminToken);
    const set = await app.api.patch(`/api/v1/users/${a.id}`, {
      token: adminToken,
      json: { password: 'set-by-the-admin-1' },
    });
    expect(set.status).toBe(200);
    expect((await app.api.get('/api/v1/users/me', { token: a.token })).status).toBe(401);
    const fresh = await app.api.login(a.email, 'set-by-the-admin-1');
    expect((await app.api.get('/api/v1/users/me', { token: fresh })).status).toBe(200);
  });

  it('deletes the caller and their workspaces; a superuser cannot delete itself', async () => {
    const a = await app.api.newUser(adminToken);
    const ws = await app.api.post('/api/v1/workspaces', { token: a.token, json: { name: 'Mine' } });
    expect(ws.status).toBe(201);
    const res = await app.api.delete('/api/v1/users/me', { token: a.token });
    expect(res.status).toBe(200);
    const db = await app.db();
    const left = await db.selectFrom('workspaces').select('id').where('owner_id', '=', a.id).execute();
    expect(left).toEqual([]);
    expect((await app.api.get('/api/v1/users/me', { token: a.token })).status).toBe(401);

    const self = await app.api.delete('/api/v1/users/me', { token: adminToken });
    expect(self.status).toBe(403);
  });
});

describe('superuser administration of /api/v1/users', () => {
  it('is 403 for everyone else, on every endpoint', async () => {
    const a = await app.api.newUser(adminToken);
    const calls = [
      app.api.get('/api/v1/users', { token: a.token }),
      app.api.post('/api/v1/users', {
        token: a.token,
        json: { email: 'x@example.com', password: 'password-123' },
      }),
      app.api.get(`/api/v1/users/${a.id}`, { token: a.token }),
      app.api.patch(`/api/v1/users/${a.id}`, { token: a.token, json: { is_superuser: true } }),
      app.api.delete(`/api/v1/users/${a.id}`, { token: a.token }),
    ];
    for (const res of await Promise.all(calls)) expect(res.status).toBe(403);
    expect((await app.api.get('/api/v1/users/me', { token: a.token })).body.is_superuser).toBe(false);
  });

  it('creates (409 on a taken email), reads, updates and deletes users', async () => {
    const created = await app.api.post('/api/v1/users', {
      token: adminToken,
      json: { email: 'Managed@Example.com', password: 'password-123', is_superuser: true },
    });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ email: 'managed@example.com', is_superuser: true });
    const dup = await app.api.post('/api/v1/users', {
      token: adminToken,
      json: { email: 'managed@example.com', password: 'password-123' },
    });
    expect(dup.status).toBe(409);

    const id = created.body.id;
    expect((await app.api.get(`/api/v1/users/${id}`, { token: adminToken })).body.email).toBe(
      'managed@example.com',
    );
    const updated = await app.api.patch(`/api/v1/users/${id}`, {
      token: adminToken,
      json: { full_name: 'Managed', password: 'new-password-1' },
    });
    expect(updated.status).toBe(200);
    expect(updated.body.full_name).toBe('Managed');
    expect(await app.api.login('managed@example.com', 'new-password-1')).toBeTypeOf('string');

    expect((await app.api.delete(`/api/v1/users/${id}`, { token: adminToken })).status).toBe(200);
    expect((await app.api.get(`/api/v1/users/${id}`, { token: adminToken })).status).toBe(404);
    expect((await app.api.delete(`/api/v1/users/${id}`, { token: adminToken })).status).toBe(404);
    expect(
      (await app.api.patch(`/api/v1/users/${id}`, { token: adminToken, json: { full_name: 'x' } })).status,
    ).toBe(404);
  });

  it('holds passwords a superuser sets to the same policy', async () => {
    const created = await app.api.post('/api/v1/users', {
      token: adminToken,
      json: { email: 'weak@example.com', password: 'password' },
    });
    expect(created.status).toBe(422);
    expect(created.body.errors[0]).toMatchObject({
      path: 'password',
      message: expect.stringMatching(/common/),
    });
    const a = await app.api.newUser(adminToken);
    const updated = await app.api.patch(`/api/v1/users/${a.id}`, {
      token: adminToken,
      json: { password: ' '.repeat(10) },
    });
    expect(updated.status).toBe(422);
    expect(updated.body.errors[0]).toMatchObject({
      path: 'password',
      message: 'Password must not be only whitespace',
    });
    expect(await app.api.login(a.email, a.password)).toBeTypeOf('string');
  });

  it('refuses to let a superuser delete itself by id', async () => {
    const me = await app.api.get('/api/v1/users/me', { token: adminToken });
    expect((await app.api.delete(`/api/v1/users/${me.body.id}`, { token: adminToken })).status).toBe(403);
  });

  it('lists users as {data, count, next_cursor}, a page at a time, without hashes', async () => {
    for (let i = 0; i < 3; i++) await app.api.newUser(adminToken);
    const all = await app.api.get('/api/v1/users?limit=1000', { token: adminToken });
    expect(all.status).toBe(200);
    expect(all.body.count).toBe(all.body.data.length);
    expect(all.body.next_cursor).toBeNull();
    expect(all.text).not.toMatch(/hashed_password|\$2[aby]\$/);

    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const page: { body: { data: { id: string }[]; count: number; next_cursor: string | null } } =
        await app.api.get(`/api/v1/users?limit=2${cursor ? `&cursor=${cursor}` : ''}`, { token: adminToken });
      expect(page.body.count).toBe(all.body.count);
      seen.push(...page.body.data.map((u) => u.id));
      cursor = page.body.next_cursor;
    } while (cursor);
    expect(seen).toEqual(all.body.data.map((u: { id: string }) => u.id));

    const bad = await app.api.get('/api/v1/users?cursor=garbage&limit=0', { token: adminToken });
    expect(bad.status).toBe(422);
    expect(bad.body.errors.map((e: { path: string }) => e.path).sort()).toEqual(['cursor', 'limit']);
  });

  it('answers 422 for an id that is not a UUID', async () => {
    const res = await app.api.get('/api/v1/users/not-a-uuid', { token: adminToken });
    expect(res.status).toBe(422);
    expect(res.body.errors[0]).toMatchObject({ location: 'path', path: 'user_id' });
  });
});

describe('the last active superuser', () => {
  const LAST = 'The last active superuser cannot be demoted, deactivated or deleted';

  it('cannot demote or deactivate itself while it is the only one', async () => {
    const me = (await app.api.get('/api/v1/users/me', { token: adminToken })).body;
    for (const change of [{ is_superuser: false }, { is_active: false }]) {
      const res = await app.api.patch(`/api/v1/users/${me.id}`, { token: adminToken, json: change });
      expect(res.status).toBe(409);
      expect(res.body.detail).toBe(LAST);
    }
    const after = await app.api.get('/api/v1/users/me', { token: adminToken });
    expect(after.body).toMatchObject({ is_superuser: true, is_active: true });
  });

  it('can step down once another superuser exists', async () => {
    const other = await app.api.newUser(adminToken);
    await app.api.patch(`/api/v1/users/${other.id}`, { token: adminToken, json: { is_superuser: true } });
    const me = (await app.api.get('/api/v1/users/me', { token: adminToken })).body;
    const down = await app.api.patch(`/api/v1/users/${me.id}`, {
      token: adminToken,
      json: { is_superuser: false },
    });
    expect(down.status).toBe(200);
    // The other is now the last one: the admin's seat back, and the other's demotion refused.
    const up = await app.api.patch(`/api/v1/users/${me.id}`, {
      token: other.token,
      json: { is_superuser: true },
    });
    expect(up.status).toBe(200);
    await app.api.patch(`/api/v1/users/${other.id}`, { token: adminToken, json: { is_superuser: false } });
    const self = await app.api.patch(`/api/v1/users/${me.id}`, {
      token: adminToken,
      json: { is_active: false },
    });
    expect(self.status).toBe(409);
  });

  it('survives two superusers removing each other at once: one wins, the other is refused', async () => {
    const me = (await app.api.get('/api/v1/users/me', { token: adminToken })).body;
    for (let round = 0; round < 4; round++) {
      const other = await app.api.newUser(adminToken);
      await app.api.patch(`/api/v1/users/${other.id}`, { token: adminToken, json: { is_superuser: true } });
      const [removeOther, demoteAdmin] = await Promise.all([
        round % 2 === 0
          ? app.api.delete(`/api/v1/users/${other.id}`, { token: adminToken })
          : app.api.patch(`/api/v1/users/${other.id}`, { token: adminToken, json: { is_superuser: false } }),
        app.api.patch(`/api/v1/users/${me.id}`, { token: other.token, json: { is_superuser: false } }),
      ]);
      // The loser is refused by the last-superuser check (409), or by authorization (403) when
      // the winner was done before the loser's request began.
      const statuses = [removeOther.status, demoteAdmin.status].sort();
      expect(statuses[0]).toBe(200);
      expect([403, 409]).toContain(statuses[1]);
      const db = await app.db();
      const left = await db
        .selectFrom('users')
        .select('id')
        .where('is_superuser', '=', true)
        .where('is_active', '=', true)
        .execute();
      expect(left).toHaveLength(1);
      // The admin alone a superuser again, for the next round and the tests after.
      await db.updateTable('users').set({ is_superuser: false }).where('id', '!=', me.id).execute();
      await db.updateTable('users').set({ is_superuser: true }).where('id', '=', me.id).execute();
    }
  });
});

describe('POST /api/v1/users/open with registration closed (the default)', () => {
  it('is forbidden', async () => {
    const res = await app.api.post('/api/v1/users/open', {
      json: { email: 'someone@example.com', password: 'password-123' },
    });
    expect(res.status).toBe(403);
  });
});
