import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SUPERUSER, startTestApp, type TestApp } from '#test/support/app.ts';

let app: TestApp;
let adminToken: string;

beforeAll(async () => {
  app = await startTestApp();
  adminToken = await app.api.login(SUPERUSER.email, SUPERUSER.password);
});
afterAll(() => app.stop());

// user_id_ownership: the reference client's name for owner_id (the /compat profile reads it).
const WORKSPACE_KEYS = [
  'created_at',
  'description',
  'icon',
  'id',
  'name',
  'owner_id',
  'updated_at',
  'user_id_ownership',
];

describe('/api/v1/workspaces', () => {
  it('creates, reads, lists, updates and deletes a workspace', async () => {
    const user = await app.api.newUser(adminToken);
    const created = await app.api.post('/api/v1/workspaces', {
      token: user.token,
      json: { name: '  Research ', description: 'Papers', icon: 'book' },
    });
    expect(created.status).toBe(201);
    expect(Object.keys(created.body).sort()).toEqual(WORKSPACE_KEYS);
    expect(created.body).toMatchObject({
      name: 'Research',
      description: 'Papers',
      icon: 'book',
      owner_id: user.id,
    });
    const id = created.body.id;

    const read = await app.api.get(`/api/v1/workspaces/${id}`, { token: user.token });
    expect(read.body).toEqual(created.body);

    const list = await app.api.get('/api/v1/workspaces', { token: user.token });
    expect(list.body).toEqual({ data: [created.body], count: 1, next_cursor: null });

    await new Promise((r) => setTimeout(r, 2));
    const updated = await app.api.patch(`/api/v1/workspaces/${id}`, {
      token: user.token,
      json: { description: null, icon: 'star' },
    });
    expect(updated.status).toBe(200);
    expect(updated.body).toMatchObject({ name: 'Research', description: null, icon: 'star' });
    expect(Date.parse(updated.body.updated_at)).toBeGreaterThan(Date.parse(created.body.updated_at));
    expect(updated.body.created_at).toBe(created.body.created_at);

    const deleted = await app.api.delete(`/api/v1/workspaces/${id}`, { token: user.token });
    expect(deleted.status).toBe(204);
    expect(deleted.text).toBe('');
    expect((await app.api.get(`/api/v1/workspaces/${id}`, { token: user.token })).status).toBe(404);
  });

  it('moves updated_at on every change', async () => {
    const user = await app.api.newUser(adminToken);
    const ws = await app.api.post('/api/v1/workspaces', { token: user.token, json: { name: 'A' } });
    let last = ws.body.updated_at;
    for (const name of ['B', 'C', 'D']) {
      // The API shows milliseconds: let one pass so that consecutive changes are distinguishable.
      await new Promise((r) => setTimeout(r, 2));
      const res = await app.api.patch(`/api/v1/workspaces/${ws.body.id}`, {
        token: user.token,
        json: { name },
      });
      expect(Date.parse(res.body.updated_at)).toBeGreaterThan(Date.parse(last));
      last = res.body.updated_at;
    }
  });

  it('rejects an empty or missing name with 422', async () => {
    const user = await app.api.newUser(adminToken);
    for (const json of [{}, { name: '   ' }, { name: 42 }]) {
      const res = await app.api.post('/api/v1/workspaces', { token: user.token, json });
      expect(res.status).toBe(422);
      expect(res.body.errors[0]).toMatchObject({ location: 'body', path: 'name' });
    }
    expect((await app.api.get('/api/v1/workspaces', { token: user.token })).body.count).toBe(0);
  });

  it('pages the caller’s workspaces oldest first', async () => {
    const user = await app.api.newUser(adminToken);
    const names = ['one', 'two', 'three', 'four', 'five'];
    for (const name of names) await app.api.post('/api/v1/workspaces', { token: user.token, json: { name } });
    const first = await app.api.get('/api/v1/workspaces?limit=2', { token: user.token });
    expect(first.body.count).toBe(5);
    expect(first.body.data.map((w: { name: string }) => w.name)).toEqual(['one', 'two']);
    const second = await app.api.get(`/api/v1/workspaces?limit=2&cursor=${first.body.next_cursor}`, {
      token: user.token,
    });
    expect(second.body.data.map((w: { name: string }) => w.name)).toEqual(['three', 'four']);
    const third = await app.api.get(`/api/v1/workspaces?limit=2&cursor=${second.body.next_cursor}`, {
      token: user.token,
    });
    expect(third.body.data.map((w: { name: string }) => w.name)).toEqual(['five']);
    expect(third.body.next_cursor).toBeNull();
  });
});

describe('POST /api/v1/workspaces/ensure-default', () => {
  it('creates "Default Workspace" once, then returns the oldest workspace', async () => {
    const user = await app.api.newUser(adminToken);
    const [a, b] = await Promise.all([
      app.api.post('/api/v1/workspaces/ensure-default', { token: user.token }),
      app.api.post('/api/v1/workspaces/ensure-default', { token: user.token }),
    ]);
    expect(a.status).toBe(200);
    expect(a.body.name).toBe('Default Workspace');
    expect(b.body.id).toBe(a.body.id);
    expect((await app.api.get('/api/v1/workspaces', { token: user.token })).body.count).toBe(1);

    await app.api.post('/api/v1/workspaces', { token: user.token, json: { name: 'Later' } });
    const again = await app.api.post('/api/v1/workspaces/ensure-default', { token: user.token });
    expect(again.body.id).toBe(a.body.id);
  });

  it('returns an existing oldest workspace without creating one', async () => {
    const user = await app.api.newUser(adminToken);
    const first = await app.api.post('/api/v1/workspaces', { token: user.token, json: { name: 'First' } });
    await app.api.post('/api/v1/workspaces', { token: user.token, json: { name: 'Second' } });
    const res = await app.api.post('/api/v1/workspaces/ensure-default', { token: user.token });
    expect(res.body.id).toBe(first.body.id);
    expect((await app.api.get('/api/v1/workspaces', { token: user.token })).body.count).toBe(2);
  });
});

describe('tenant isolation', () => {
  it('hides another user’s workspace on every verb (404, never 403) and leaves it untouched', async () => {
    const owner = await app.api.newUser(adminToken);
    const other = await app.api.newUser(adminToken);
    const ws = await app.api.post('/api/v1/workspaces', { token: owner.token, json: { name: 'Private' } });
    const path = `/api/v1/workspaces/${ws.body.id}`;
    const attempts = await Promise.all([
      app.api.get(path, { token: other.token }),
      app.api.patch(path, { token: other.token, json: { name: 'Hijacked' } }),
      app.api.delete(path, { token: other.token }),
    ]);
    for (const res of attempts) {
      expect(res.status).toBe(404);
      expect(res.body.detail).toBe('Workspace not found');
    }
    // Same answer as for an id that does not exist at all.
    const missing = await app.api.get('/api/v1/workspaces/00000000-0000-7000-8000-000000000000', {
      token: other.token,
    });
    expect(missing.status).toBe(404);
    expect(missing.body.detail).toBe('Workspace not found');

    expect((await app.api.get('/api/v1/workspaces', { token: other.token })).body.count).toBe(0);
    const still = await app.api.get(path, { token: owner.token });
    expect(still.body.name).toBe('Private');
  });

  it('does not let a superuser read other users’ workspaces through this API either', async () => {
    const owner = await app.api.newUser(adminToken);
    const ws = await app.api.post('/api/v1/workspaces', { token: owner.token, json: { name: 'Mine' } });
    expect((await app.api.get(`/api/v1/workspaces/${ws.body.id}`, { token: adminToken })).status).toBe(404);
  });

  it('needs a token', async () => {
    expect((await app.api.get('/api/v1/workspaces')).status).toBe(401);
    expect((await app.api.post('/api/v1/workspaces', { json: { name: 'x' } })).status).toBe(401);
  });
});
