import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { config } from '#lib/config.ts';
import { newId } from '#lib/ids.ts';
import { logger } from '#lib/logger.ts';
import { platform } from '#lib/platform.ts';
import { handleIngestMessage, type IngestDeps } from '#lib/services/ingestion.ts';
import { SUPERUSER, startTestApp, type TestApp } from '#test/support/app.ts';
import { makeCsv } from '#test/support/fixtures.ts';
import { sendUpload, waitForDatasource } from '#test/support/ingest.ts';

// Deletes too large for a request (issue 13): above DELETE_INLINE_MAX_RECORDS (lowered here to
// 100) a datasource turns `deleting` and a workspace vanishes at once, and the ingest worker
// deletes the records in chunks (DELETE_CHUNK_RECORDS, lowered to 40). A test holds a lock on the
// first record a chunk takes, as a slow chunk would, to look at the delete while it goes.
const ROWS = 300;
/** Background work on a loaded machine: poll for longer than expect.poll's default second. */
const POLL = { timeout: 20_000 };
let app: TestApp;
let adminToken: string;
let token: string;
let ws: string;

beforeAll(async () => {
  // A provider is configured (a job naming the datasource is refused before any call is made).
  process.env.OPENAI_API_KEY = 'sk-deletes';
  process.env.OPENAI_MODELS = 'fake-model';
  process.env.OPENAI_BASE_URL = 'http://127.0.0.1:9/v1';
  app = await startTestApp({
    DELETE_INLINE_MAX_RECORDS: '100',
    DELETE_CHUNK_RECORDS: '40',
    MAINTENANCE_STUCK_AFTER_SECONDS: '1',
  });
  adminToken = await app.api.login(SUPERUSER.email, SUPERUSER.password);
  token = (await app.api.newUser(adminToken)).token;
  ws = (await app.api.post('/api/v1/workspaces', { token, json: { name: 'Big deletes' } })).body.id;
});
afterAll(() => app.stop());

const sourcePath = (workspaceId: string, id = '') =>
  `/api/v1/workspaces/${workspaceId}/datasources${id ? `/${id}` : ''}`;

/** A CSV datasource of `rows` rows, uploaded and processed, in a workspace of `owner`'s. */
async function csvSource(owner: string, workspaceId: string, rows = ROWS) {
  const created = await app.api.post(sourcePath(workspaceId), {
    token: owner,
    json: { name: 'Rows', type: 'csv', options: {} },
  });
  const source = created.body.data[0];
  const csv = makeCsv([['note'], ...Array.from({ length: rows }, (_, i) => [`note ${i}`])]);
  expect((await sendUpload(source.upload, csv, 'rows.csv')).status).toBe(204);
  const done = await waitForDatasource(app.api, owner, workspaceId, source.id);
  expect(done).toMatchObject({ status: 'complete', record_count: rows });
  return source.id as string;
}

/** Every stored file under a workspace's folder, as paths relative to it. */
async function filesOf(workspaceId: string): Promise<string[]> {
  const root = path.join(app.dataDir, 'objects', 'workspaces', workspaceId);
  const entries = await readdir(root, { recursive: true, withFileTypes: true }).catch(() => []);
  return entries.filter((e) => e.isFile()).map((e) => path.relative(root, path.join(e.parentPath, e.name)));
}

async function recordsOf(where: { datasource_id: string } | { workspace_id: string }): Promise<number> {
  const db = await app.db();
  const [column, value] = Object.entries(where)[0]!;
  const row = await db
    .selectFrom('records')
    .select(sql<number>`count(*)::int`.as('n'))
    .where(column as 'datasource_id', '=', value)
    .executeTakeFirstOrThrow();
  return row.n;
}

/**
 * Holds the first record (by id) of a datasource or workspace locked, as a slow chunk would:
 * the background delete waits on it until the answer is called.
 */
async function holdFirstRecord(where: { datasource_id: string } | { workspace_id: string }) {
  const db = await app.db();
  const [column, value] = Object.entries(where)[0]!;
  let release!: () => void;
  const released = new Promise<void>((r) => {
    release = r;
  });
  let locked!: () => void;
  const isLocked = new Promise<void>((r) => {
    locked = r;
  });
  const held = db.transaction().execute(async (trx) => {
    await trx
      .selectFrom('records')
      .select('id')
      .where(column as 'datasource_id', '=', value)
      .orderBy('id')
      .limit(1)
      .forUpdate()
      .execute();
    locked();
    await released;
  });
  await isLocked;
  return async () => {
    release();
    await held;
  };
}

/** The worker, called directly: for a message delivered again, or a budget that chains at every chunk. */
async function worker(sent: unknown[], settings: Partial<IngestDeps['settings']> = {}): Promise<IngestDeps> {
  return {
    db: await app.db(),
    objects: platform().objects,
    queue: { send: async (_queue, bodies) => void sent.push(...bodies) },
    log: logger,
    settings: {
      ingestQueue: config().ingestQueue,
      maxUploadBytes: 1e6,
      scraperAllowPrivateHosts: false,
      deleteChunkRecords: 40,
      ...settings,
    },
  };
}

const waitGone = (workspaceId: string, id: string) =>
  expect.poll(async () => (await app.api.get(sourcePath(workspaceId, id), { token })).status, POLL).toBe(404);

describe('deleting a large datasource', () => {
  it('answers 202 with the datasource deleting, refuses new work over it (409), then deletes it in chunks', async () => {
    const id = await csvSource(token, ws);
    expect((await filesOf(ws)).some((f) => f.includes(id))).toBe(true);
    const scheme = await app.api.post(`/api/v1/workspaces/${ws}/classification_schemes`, {
      token,
      json: { name: 'Tone', fields: [{ name: 'calm', description: 'Is it calm', type: 'bool' }] },
    });
    const release = await holdFirstRecord({ datasource_id: id });
    try {
      const res = await app.api.delete(sourcePath(ws, id), { token });
      expect(res.status).toBe(202);
      expect(res.body).toMatchObject({ id, status: 'deleting' });
      expect(res.headers.get('location')).toBe(sourcePath(ws, id));
      expect((await app.api.get(sourcePath(ws, id), { token })).body.status).toBe('deleting');
      // Deleted again meanwhile: the same answer.
      expect((await app.api.delete(sourcePath(ws, id), { token })).status).toBe(202);

      const refused = [
        await app.api.post(`${sourcePath(ws, id)}/reprocess`, { token }),
        await app.api.patch(sourcePath(ws, id), { token, json: { name: 'Renamed' } }),
        await app.api.post(`${sourcePath(ws, id)}/records`, {
          token,
          json: { content: 'more', content_type: 'text' },
        }),
        await app.api.post(`/api/v1/workspaces/${ws}/classification_jobs`, {
          token,
          json: { name: 'Over it', scheme_ids: [scheme.body.id], datasource_ids: [id] },
        }),
        await app.api.post('/api/v1/shareables', {
          token,
          json: { resource_type: 'datasource', resource_id: id },
        }),
        await app.api.post(`/api/v1/workspaces/${ws}/exports`, {
          token,
          json: { type: 'datasource', resource_id: id },
        }),
      ];
      expect(refused.map((r) => r.status)).toEqual([409, 409, 409, 409, 409, 409]);
      for (const r of refused) expect(r.body.detail).toMatch(/^The datasource is being deleted/);
    } finally {
      await release();
    }
    await waitGone(ws, id);
    expect(await recordsOf({ datasource_id: id })).toBe(0);
    await expect.poll(async () => (await filesOf(ws)).filter((f) => f.includes(id)), POLL).toEqual([]);
    // The message delivered again once all is gone: nothing to do, and no failure.
    const sent: unknown[] = [];
    const again = JSON.stringify({ kind: 'delete_datasource', datasource_id: id, workspace_id: ws });
    await expect(handleIngestMessage(await worker(sent), again)).resolves.toBeUndefined();
    expect(sent).toEqual([]);
  });

  it('refuses an upload to a datasource being deleted (409), and stores nothing', async () => {
    const source = (
      await app.api.post(sourcePath(ws), { token, json: { name: 'Form', type: 'csv', options: {} } })
    ).body.data[0];
    // Marked as a workspace's delete marks its datasources.
    const db = await app.db();
    await db.updateTable('datasources').set({ status: 'deleting' }).where('id', '=', source.id).execute();
    const res = await sendUpload(source.upload, 'a,b\n1,2\n', 'late.csv');
    expect(res.status).toBe(409);
    expect(((await res.json()) as { detail: string }).detail).toBe('The datasource is being deleted');
    expect((await filesOf(ws)).filter((f) => f.includes(source.id))).toEqual([]);
  });

  it('deletes a small datasource in the request, as before (204)', async () => {
    const id = await csvSource(token, ws, 50);
    expect((await app.api.delete(sourcePath(ws, id), { token })).status).toBe(204);
    expect((await app.api.get(sourcePath(ws, id), { token })).status).toBe(404);
    expect(await recordsOf({ datasource_id: id })).toBe(0);
  });

  it('chains a message per budget, and a message delivered twice deletes nothing twice', async () => {
    const id = await csvSource(token, ws);
    const db = await app.db();
    // Marked as the request marks it, its message held back: the test delivers it.
    await db.updateTable('datasources').set({ status: 'deleting' }).where('id', '=', id).execute();
    const message = { kind: 'delete_datasource', datasource_id: id, workspace_id: ws };
    const sent: { after?: string }[] = [];
    const deps = await worker(sent, { deleteBudgetMs: 0 });
    // The same message twice at once, as a redelivery may land beside the first delivery: each
    // deletes a chunk (or finds the other took it) and chains its next message.
    await Promise.all([
      handleIngestMessage(deps, JSON.stringify(message)),
      handleIngestMessage(deps, JSON.stringify(message)),
    ]);
    expect(sent).toHaveLength(2);
    for (const next of sent) expect(next).toMatchObject(message);
    const left = await recordsOf({ datasource_id: id });
    expect(left).toBeGreaterThanOrEqual(ROWS - 80);
    expect(left).toBeLessThan(ROWS);
    // Its record_count goes down with the chunks: a poller sees the delete move.
    const row = await db
      .selectFrom('datasources')
      .select('record_count')
      .where('id', '=', id)
      .executeTakeFirstOrThrow();
    expect(row.record_count).toBe(left);
    // One chain followed to its end: a chunk a message, each from where the last one stopped.
    const [first, duplicate] = sent.splice(0);
    let next = first!.after ? first : duplicate;
    const cursors: string[] = [];
    let steps = 0;
    while (next) {
      await handleIngestMessage(deps, JSON.stringify(next));
      steps++;
      next = sent.shift();
      if (next?.after) cursors.push(next.after);
    }
    expect(cursors).toEqual([...cursors].sort());
    // A last full chunk cannot know it was the last: one more message finds none.
    expect(steps).toBe(Math.floor(left / 40) + 1);
    // The duplicate's chain, delivered after the end: nothing left to do, nothing chained.
    await handleIngestMessage(deps, JSON.stringify(first!.after ? duplicate : first));
    expect(sent).toEqual([]);
    await waitGone(ws, id);
    expect(await recordsOf({ datasource_id: id })).toBe(0);
  });

  it('is sent again by the maintenance sweep when its message was lost', async () => {
    const id = await csvSource(token, ws);
    const db = await app.db();
    // A process that died between marking the datasource and sending its message; the sweep
    // finds it once it has not moved for MAINTENANCE_STUCK_AFTER_SECONDS.
    await db.updateTable('datasources').set({ status: 'deleting' }).where('id', '=', id).execute();
    await new Promise((r) => setTimeout(r, 1500));
    expect((await app.api.get(sourcePath(ws, id), { token })).body.status).toBe('deleting');
    await platform().queue.send(config().taskQueue, [{ kind: 'maintenance' }]);
    await waitGone(ws, id);
    expect(await recordsOf({ datasource_id: id })).toBe(0);
  });

  it('stops a run in flight: a datasource being processed is deleted in the background, and its run rolls back', async () => {
    const created = await app.api.post(sourcePath(ws), {
      token,
      json: { name: 'Busy', type: 'csv', options: {} },
    });
    const source = created.body.data[0];
    const db = await app.db();
    // A record of a key the run writes mid-way, uncommitted: the run waits on it
    // there, its first records sent.
    let release!: () => void;
    const released = new Promise<void>((r) => {
      release = r;
    });
    let inserted!: () => void;
    const isInserted = new Promise<void>((r) => {
      inserted = r;
    });
    const held = db
      .transaction()
      .execute(async (trx) => {
        await trx
          .insertInto('records')
          .values({
            id: newId(),
            workspace_id: ws,
            datasource_id: source.id,
            source_key: 'row:3500',
            text_content: 'blocking',
            source_metadata: '{}',
            content_hash: 'x',
          })
          .execute();
        inserted();
        await released;
        throw new Error('rolled back');
      })
      .catch(() => undefined);
    await isInserted;
    try {
      const csv = makeCsv([['note'], ...Array.from({ length: 5000 }, (_, i) => [`note ${i}`])]);
      expect((await sendUpload(source.upload, csv, 'rows.csv')).status).toBe(204);
      await expect
        .poll(
          async () =>
            (await app.api.get(sourcePath(ws, source.id), { token })).body.metadata.progress?.processed,
          POLL,
        )
        .toBeGreaterThan(0);
      const res = await app.api.delete(sourcePath(ws, source.id), { token });
      expect(res.status).toBe(202);
    } finally {
      release();
      await held;
    }
    await waitGone(ws, source.id);
    expect(await recordsOf({ datasource_id: source.id })).toBe(0);
    // The run never completed: its completion (and event) rolled back with it.
    const events = await db
      .selectFrom('event_outbox')
      .select('type')
      .where(sql<boolean>`data->>'datasource_id' = ${source.id}`)
      .execute();
    expect(events).toEqual([]);
  });
});

describe('deleting a large workspace', () => {
  it('hides it at once (404, gone from the list, its share links dead), then deletes it and its files', async () => {
    const workspace = (await app.api.post('/api/v1/workspaces', { token, json: { name: 'Huge' } })).body.id;
    const id = await csvSource(token, workspace);
    const link = await app.api.post('/api/v1/shareables', {
      token,
      json: { resource_type: 'workspace', resource_id: workspace, requires_login: false },
    });
    expect(link.status).toBe(201);
    expect((await app.api.get(`/api/v1/shared/${link.body.token}`)).status).toBe(200);
    const db = await app.db();
    // A job still running over it (its model calls must stop with the workspace).
    const jobId = newId();
    await db
      .insertInto('classification_jobs')
      .values({
        id: jobId,
        workspace_id: workspace,
        name: 'Running',
        description: null,
        status: 'running',
        scheme_ids: [],
        provider: 'openai',
        model: 'fake-model',
        options: '{}',
        error_message: null,
        finished_at: null,
        plan_cursor: null,
        plan_until: null,
        planned_at: null,
      })
      .execute();
    const release = await holdFirstRecord({ workspace_id: workspace });
    try {
      expect((await app.api.delete(`/api/v1/workspaces/${workspace}`, { token })).status).toBe(204);
      expect((await app.api.get(`/api/v1/workspaces/${workspace}`, { token })).status).toBe(404);
      expect((await app.api.get(sourcePath(workspace, id), { token })).status).toBe(404);
      const list = await app.api.get('/api/v1/workspaces?limit=100', { token });
      expect(list.body.data.map((w: { id: string }) => w.id)).not.toContain(workspace);
      expect((await app.api.get(`/api/v1/shared/${link.body.token}`)).status).toBe(404);
      expect((await app.api.delete(`/api/v1/workspaces/${workspace}`, { token })).status).toBe(404);
      expect(await recordsOf({ workspace_id: workspace })).toBe(ROWS);
      const job = await db
        .selectFrom('classification_jobs')
        .select('status')
        .where('id', '=', jobId)
        .executeTakeFirst();
      expect(job?.status).toBe('cancelled');
    } finally {
      await release();
    }
    await expect
      .poll(
        async () =>
          (await db.selectFrom('workspaces').select('id').where('id', '=', workspace).execute()).length,
        POLL,
      )
      .toBe(0);
    expect(await recordsOf({ workspace_id: workspace })).toBe(0);
    await expect.poll(() => filesOf(workspace), POLL).toEqual([]);
  });
});

describe('deleting a user who owns a large workspace', () => {
  it('ends their login at once and frees their email, then deletes their workspaces and row', async () => {
    const user = await app.api.newUser(adminToken);
    const workspace = (
      await app.api.post('/api/v1/workspaces', { token: user.token, json: { name: 'Theirs' } })
    ).body.id;
    await csvSource(user.token, workspace);
    const release = await holdFirstRecord({ workspace_id: workspace });
    try {
      const res = await app.api.delete(`/api/v1/users/${user.id}`, { token: adminToken });
      expect(res.status).toBe(200);
      expect((await app.api.get('/api/v1/users/me', { token: user.token })).status).toBe(401);
      const login = await app.api.post('/api/v1/login/access-token', {
        form: { username: user.email, password: user.password },
      });
      expect(login.status).toBe(400);
      expect((await app.api.get(`/api/v1/users/${user.id}`, { token: adminToken })).status).toBe(404);
      // The address is free again at once, as after any delete.
      const again = await app.api.newUser(adminToken, { email: user.email });
      expect(again.id).not.toBe(user.id);
    } finally {
      await release();
    }
    const db = await app.db();
    await expect
      .poll(
        async () => (await db.selectFrom('users').select('id').where('id', '=', user.id).execute()).length,
        POLL,
      )
      .toBe(0);
    expect(await recordsOf({ workspace_id: workspace })).toBe(0);
    await expect.poll(() => filesOf(workspace), POLL).toEqual([]);
  });
});
