import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SUPERUSER, startTestApp, type TestApp } from '#test/support/app.ts';
import { allRecords, waitForDatasource } from '#test/support/ingest.ts';

// Datasets under share links: a dataset link serves that dataset (members, export) and nothing
// else; a workspace link serves its datasets too.
let app: TestApp;
let token: string;
let ws: string;
let shared: string;
let other: string;
let source: string;

beforeAll(async () => {
  app = await startTestApp();
  const admin = await app.api.login(SUPERUSER.email, SUPERUSER.password);
  token = (await app.api.newUser(admin)).token;
  ws = (await app.api.post('/api/v1/workspaces', { token, json: { name: 'Shared sets' } })).body.id;
  source = (
    await app.api.post(`/api/v1/workspaces/${ws}/datasources`, {
      token,
      json: { name: 'Notes', type: 'text_block', options: { text: 'A shared note.' } },
    })
  ).body.data[0].id;
  await waitForDatasource(app.api, token, ws, source);
  const [record] = await allRecords(app.api, token, ws, source);
  const create = (json: object) => app.api.post(`/api/v1/workspaces/${ws}/datasets`, { token, json });
  shared = (await create({ name: 'Picked', record_ids: [record.id] })).body.id;
  other = (await create({ name: 'Private' })).body.id;
});
afterAll(() => app.stop());

async function link(resource_type: string, resource_id: string): Promise<string> {
  const res = await app.api.post('/api/v1/shareables', {
    token,
    json: { resource_type, resource_id, requires_login: false },
  });
  expect(res.status).toBe(201);
  return res.body.token;
}

describe('datasets under share links', () => {
  it('a dataset link serves its dataset, members and export, and nothing else', async () => {
    const t = await link('dataset', shared);
    const described = await app.api.get(`/api/v1/shared/${t}`);
    expect(described.body).toMatchObject({ resource_type: 'dataset', resource_id: shared, name: 'Picked' });

    const dataset = await app.api.get(`/api/v1/shared/${t}/datasets/${shared}`);
    expect(dataset.status).toBe(200);
    expect(dataset.body).toMatchObject({ id: shared, name: 'Picked' });
    const members = await app.api.get(`/api/v1/shared/${t}/datasets/${shared}/members`);
    expect(members.body.count).toBe(1);
    expect(members.body.data[0].text_content).toBe('A shared note.');
    const csv = await app.api.get(
      `/api/v1/shared/${t}/datasets/${shared}/export?format=csv&include_text=true`,
    );
    expect(csv.status).toBe(200);
    expect(csv.text).toContain('A shared note.');

    for (const path of [
      `datasets/${other}`,
      `datasets/${other}/members`,
      `datasets/${other}/export?format=json`,
      `datasources/${source}`,
      'records',
    ]) {
      expect((await app.api.get(`/api/v1/shared/${t}/${path}`)).status, path).toBe(404);
    }
  });

  it('a workspace link serves every dataset of the workspace', async () => {
    const t = await link('workspace', ws);
    const read = await app.api.get(`/api/v1/shared/${t}/datasets/${other}`);
    expect(read.status, read.text).toBe(200);
    expect((await app.api.get(`/api/v1/shared/${t}/datasets/${shared}/members`)).body.count).toBe(1);
  });
});
