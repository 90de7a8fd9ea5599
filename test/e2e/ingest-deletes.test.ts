import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SUPERUSER, startTestApp, type TestApp } from '#test/support/app.ts';
import { waitForDatasource } from '#test/support/ingest.ts';

// Deletes of datasources, workspaces and users on the local platform: one winner, no files left.
let app: TestApp;
let token: string;
let ws: string;

beforeAll(async () => {
  app = await startTestApp({ QUEUE_VISIBILITY_TIMEOUT_SECONDS: '1' });
  const admin = await app.api.login(SUPERUSER.email, SUPERUSER.password);
  token = (await app.api.newUser(admin)).token;
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
