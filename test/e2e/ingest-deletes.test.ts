import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { platform } from '#lib/platform.ts';
import { SUPERUSER, startTestApp, type TestApp } from '#test/support/app.ts';
import { allRecords, sendUpload, waitForDatasource } from '#test/support/ingest.ts';

// Deletes of datasources, workspaces and users on the local platform: one winner, no files left.
let app: TestApp;
let token: string;
let ws: string;
let adminToken: string;

beforeAll(async () => {
  app = await startTestApp({ QUEUE_VISIBILITY_TIMEOUT_SECONDS: '1' });
  adminToken = await app.api.login(SUPERUSER.email, SUPERUSER.password);
  token = (await app.api.newUser(adminToken)).token;
  ws = (await app.api.post('/api/v1/workspaces', { token, json: { name: 'Deletes' } })).body.id;
});
afterAll(() => app.stop());

const base = () => `/api/v1/workspaces/${ws}/datasources`;
const create = (json: unknown) => app.api.post(base(), { token, json });

describe('deleting a datasource', () => {
  it('answers 204 once and 404 to the nine concurrent deletes that lost', async () => {
    const source = (await create({ name: 'Once', type: 'text_block', options: { text: 'delete me' } })).body
      .data[0];
    await waitForDatasource(app.api, token, ws, source.id);
    // Held like an ingest holds it while inserting records: every delete gets past its checks
    // and then waits on the row, as in the probe (a datasource under ingestion).
    const db = await app.db();
    let deletes: Promise<{ status: number }[]> | undefined;
    await db.transaction().execute(async (trx) => {
      await trx.selectFrom('datasources').select('id').where('id', '=', source.id).forKeyShare().execute();
      deletes = Promise.all(
        Array.from({ length: 10 }, () => app.api.delete(`${base()}/${source.id}`, { token })),
      );
      await new Promise((r) => setTimeout(r, 500));
    });
    const answers = await deletes!;
    const statuses = answers.map((a) => a.status).sort();
    expect(statuses).toEqual([204, ...Array(9).fill(404)]);
  });
});

/** Every stored file under a workspace's folder, as paths relative to it. */
async function filesOf(workspaceId: string): Promise<string[]> {
  const root = path.join(app.dataDir, 'objects', 'workspaces', workspaceId);
  const entries = await readdir(root, { recursive: true, withFileTypes: true }).catch(() => []);
  return entries.filter((e) => e.isFile()).map((e) => path.relative(root, path.join(e.parentPath, e.name)));
}

/** A workspace of `owner` with one CSV datasource whose file was uploaded and processed. */
async function workspaceWithFile(owner: string) {
  const workspace = (await app.api.post('/api/v1/workspaces', { token: owner, json: { name: 'Files' } })).body
    .id;
  const source = (
    await app.api.post(`/api/v1/workspaces/${workspace}/datasources`, {
      token: owner,
      json: { name: 'Rows', type: 'csv', options: {} },
    })
  ).body.data[0];
  expect((await sendUpload(source.upload, 'a,b\n1,2\n', 'rows.csv')).status).toBe(204);
  await waitForDatasource(app.api, owner, workspace, source.id);
  expect(await filesOf(workspace)).toHaveLength(1);
  return { workspace, source };
}

describe('stored files go with their owners', () => {
  it('deleting a workspace purges its files', async () => {
    const { workspace } = await workspaceWithFile(token);
    expect((await app.api.delete(`/api/v1/workspaces/${workspace}`, { token })).status).toBe(204);
    await expect.poll(() => filesOf(workspace)).toEqual([]);
  });

  it('deleting a user purges the files of every workspace they owned', async () => {
    const user = await app.api.newUser(adminToken);
    const first = await workspaceWithFile(user.token);
    const second = await workspaceWithFile(user.token);
    const res = await app.api.delete(`/api/v1/users/${user.id}`, { token: adminToken });
    expect(res.status).toBe(200);
    await expect.poll(() => filesOf(first.workspace)).toEqual([]);
    await expect.poll(() => filesOf(second.workspace)).toEqual([]);
  });
});

describe('uploads are taken only by a datasource awaiting them', () => {
  it('refuses a presigned upload whose datasource was deleted, and stores nothing', async () => {
    const source = (await create({ name: 'Late', type: 'csv', options: {} })).body.data[0];
    expect((await app.api.delete(`${base()}/${source.id}`, { token })).status).toBe(204);
    const res = await sendUpload(source.upload, 'a,b\n1,2\n', 'late.csv');
    expect(res.status).toBe(404);
    expect(((await res.json()) as { detail: string }).detail).toMatch(/no longer exists/);
    expect((await filesOf(ws)).filter((f) => f.includes(source.id))).toEqual([]);
  });

  it('refuses the same form again once the file was taken: the records keep their file', async () => {
    const source = (await create({ name: 'Twice', type: 'csv', options: {} })).body.data[0];
    expect((await sendUpload(source.upload, 'text\noriginal row\n', 'rows.csv')).status).toBe(204);
    await waitForDatasource(app.api, token, ws, source.id);
    const again = await sendUpload(source.upload, 'text\nswapped row\n', 'rows.csv');
    expect(again.status).toBe(409);
    const content = await fetch(`${app.url}${base()}/${source.id}/content`, {
      headers: { authorization: `Bearer ${token}` },
    });
    expect(await content.text()).toBe('text\noriginal row\n');
  });

  it('deletes an object that lands on the form key anyway (as S3 would let it), keeping the file under the records', async () => {
    const source = (await create({ name: 'Stray', type: 'csv', options: {} })).body.data[0];
    expect((await sendUpload(source.upload, 'text\noriginal row\n', 'rows.csv')).status).toBe(204);
    await waitForDatasource(app.api, token, ws, source.id);
    const records = await allRecords(app.api, token, ws, source.id);
    const formKey = source.upload.fields.key;
    // Straight into the store, as a presigned S3 POST would: the worker gets the event.
    await platform().objects.put(formKey, Buffer.from('text\nswapped row\n'));
    await expect.poll(async () => platform().objects.head(formKey)).toBeUndefined();
    const reprocessed = await app.api.post(`${base()}/${source.id}/reprocess`, { token });
    expect(reprocessed.status).toBe(202);
    await waitForDatasource(app.api, token, ws, source.id);
    const after = await allRecords(app.api, token, ws, source.id);
    expect(after.map((r) => [r.id, r.text_content])).toEqual(records.map((r) => [r.id, r.text_content]));
    expect(after[0].text_content).toContain('original row');
  });
});
