import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SUPERUSER, startTestApp, type TestApp } from '#test/support/app.ts';
import { makePdf } from '#test/support/fixtures.ts';
import { sendUpload, waitForDatasource } from '#test/support/ingest.ts';

// Inputs at the sizes the issue names: they must stream and insert in batches, not time out.
let app: TestApp;
let token: string;
let ws: string;

beforeAll(async () => {
  app = await startTestApp();
  const admin = await app.api.login(SUPERUSER.email, SUPERUSER.password);
  token = (await app.api.newUser(admin)).token;
  ws = (await app.api.post('/api/v1/workspaces', { token, json: { name: 'Large' } })).body.id;
});
afterAll(() => app.stop());

const create = (json: unknown) => app.api.post(`/api/v1/workspaces/${ws}/datasources`, { token, json });

describe('large inputs', () => {
  it('ingests a 100,000-row CSV', async () => {
    const lines = ['id,speaker,statement,date'];
    for (let i = 1; i <= 100_000; i++)
      lines.push(`${i},Speaker ${i % 97},"Statement ${i}, on the budget",2024-01-01`);
    const source = (
      await create({
        name: 'Big CSV',
        type: 'csv',
        options: { title_column: 'speaker', event_timestamp_column: 'date' },
      })
    ).body.data[0];
    expect((await sendUpload(source.upload, `${lines.join('\n')}\n`)).status).toBe(204);
    const done = await waitForDatasource(app.api, token, ws, source.id, 110_000);
    expect(done).toMatchObject({ status: 'complete', record_count: 100_000 });
    expect(done.metadata.row_count).toBe(100_000);
    // Too many records to index inside the run: its index step follows, and then `q` finds them.
    const searchable = await waitForDatasource(app.api, token, ws, source.id, 60_000, { searchable: true });
    expect(searchable.search_status).toBe('ready');
    const last = await app.api.get(
      `/api/v1/workspaces/${ws}/datarecords?datasource_id=${source.id}&q=${encodeURIComponent('"Statement 100000"')}`,
      {
        token,
      },
    );
    expect(last.body.count).toBe(1);
    expect(last.body.data[0].source_metadata.row_number).toBe(100_000);
  }, 120_000);

  it('ingests a 500-page PDF, one record per page', async () => {
    const pages = Array.from(
      { length: 500 },
      (_, i) => `Page ${i + 1}: minutes of the session, item ${i + 1}.`,
    );
    const source = (await create({ name: 'Big PDF', type: 'pdf', options: {} })).body.data[0];
    expect((await sendUpload(source.upload, await makePdf(pages), 'big.pdf')).status).toBe(204);
    const done = await waitForDatasource(app.api, token, ws, source.id, 110_000);
    expect(done).toMatchObject({ status: 'complete', record_count: 500 });
    expect(done.metadata).toMatchObject({ page_count: 500, empty_pages: 0 });
  }, 120_000);
});
