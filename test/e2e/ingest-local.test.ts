import { readdir } from 'node:fs/promises';
import { createServer } from 'node:http';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { platform } from '#lib/platform.ts';
import { SUPERUSER, startTestApp, type TestApp } from '#test/support/app.ts';
import { makeCsv, makePdf } from '#test/support/fixtures.ts';
import { allRecords, article, sendUpload, startSite, waitForDatasource } from '#test/support/ingest.ts';

let app: TestApp;
let token: string;
let ws: string;
let site: Awaited<ReturnType<typeof startSite>>;

beforeAll(async () => {
  app = await startTestApp({
    SCRAPER_ALLOW_PRIVATE_HOSTS: 'true',
    QUEUE_VISIBILITY_TIMEOUT_SECONDS: '1',
    MAX_UPLOAD_BYTES: '2000000',
  });
  const admin = await app.api.login(SUPERUSER.email, SUPERUSER.password);
  token = (await app.api.newUser(admin)).token;
  ws = (await app.api.post('/api/v1/workspaces', { token, json: { name: 'Ingest' } })).body.id;
  const pages: Record<string, string> = {};
  for (let i = 0; i < 45; i++)
    pages[`/a${i}`] = article(`Article ${i}`, `Body of article number ${i} about parliament`);
  site = await startSite(pages);
});
afterAll(async () => {
  await app.stop();
  await site.close();
});

const base = () => `/api/v1/workspaces/${ws}/datasources`;
const create = (json: unknown) => app.api.post(base(), { token, json });

describe('text_block', () => {
  it('becomes one record, and the source completes', async () => {
    const res = await create({
      name: 'Note',
      type: 'text_block',
      options: { text: 'The minister resigned on Tuesday.' },
    });
    expect(res.status).toBe(201);
    expect(res.body.count).toBe(1);
    const created = res.body.data[0];
    expect(created).toMatchObject({ type: 'text_block', workspace_id: ws, name: 'Note' });
    expect(['pending', 'processing', 'complete']).toContain(created.status);
    const done = await waitForDatasource(app.api, token, ws, created.id);
    expect(done).toMatchObject({ status: 'complete', record_count: 1, error_message: null });
    const records = await allRecords(app.api, token, ws, created.id);
    expect(records).toHaveLength(1);
    expect(records[0]).toMatchObject({
      text_content: 'The minister resigned on Tuesday.',
      datasource_id: created.id,
    });
    expect(records[0].content_hash).toMatch(/^[0-9a-f]{64}$/);
  });
});

describe('csv through a presigned upload', () => {
  it('uploads to the local runtime and turns each non-empty row into a record', async () => {
    const res = await create({
      name: 'Votes',
      type: 'csv',
      options: { title_column: 'name', event_timestamp_column: 'date', text_columns: ['name', 'vote'] },
    });
    expect(res.status).toBe(201);
    const source = res.body.data[0];
    expect(source.status).toBe('awaiting_upload');
    expect(source.upload).toMatchObject({ method: 'POST', max_bytes: 2000000 });
    expect(source.upload.url).toBe(`${app.url}/local/uploads`);

    const csv = `\uFEFF${makeCsv(
      [
        ['name', 'vote', 'date'],
        ['Ann; Smith', 'yes', '2024-01-02'],
        ['', '', ''],
        ['Bob', 'no', 'not a date'],
        ['Cé', 'abstain', '2024-03-04T05:06:07Z'],
      ],
      ';',
    )}`;
    const upload = await sendUpload(source.upload, csv, 'votes.csv');
    expect(upload.status).toBe(204);

    const done = await waitForDatasource(app.api, token, ws, source.id);
    expect(done.status).toBe('complete');
    expect(done.record_count).toBe(3);
    expect(done.metadata).toMatchObject({
      columns: ['name', 'vote', 'date'],
      delimiter: ';',
      unparsed_timestamps: 1,
    });
    const records = await allRecords(app.api, token, ws, source.id);
    expect(records.map((r) => r.title)).toEqual(['Ann; Smith', 'Bob', 'Cé']);
    expect(records[0].text_content).toBe('name: Ann; Smith\nvote: yes');
    expect(records[0].event_timestamp).toBe('2024-01-02T00:00:00.000Z');
    expect(records[1].event_timestamp).toBeNull();
    expect(records[2].source_metadata).toMatchObject({
      row_number: 4,
      row_data: { name: 'Cé', vote: 'abstain' },
    });

    const rows = await app.api.get(`${base()}/${source.id}/rows?offset=1&limit=2`, { token });
    expect(rows.status).toBe(200);
    expect(rows.body.columns).toEqual(['name', 'vote', 'date']);
    expect(rows.body.data.map((r: { row_number: number }) => r.row_number)).toEqual([3, 4]);

    const content = await app.api.get(`${base()}/${source.id}/content`, { token });
    expect(content.status).toBe(200);
    expect(content.text).toContain('Ann; Smith');
  });

  it('refuses an upload over the limit, a forged signature and an expired policy', async () => {
    const source = (await create({ name: 'Big', type: 'csv', options: {} })).body.data[0];
    const tooBig = await sendUpload(source.upload, 'a,b\n'.repeat(600_000));
    expect(tooBig.status).toBe(400);
    const forged = await sendUpload(
      { ...source.upload, fields: { ...source.upload.fields, signature: 'x' } },
      'a\n1\n',
    );
    expect(forged.status).toBe(403);
    const otherKey = await sendUpload(
      {
        ...source.upload,
        fields: { ...source.upload.fields, key: `workspaces/${ws}/datasources/${source.id}/../evil` },
      },
      'a\n1\n',
    );
    expect(otherKey.status).toBe(403);
    const still = await app.api.get(`${base()}/${source.id}`, { token });
    expect(still.body.status).toBe('awaiting_upload');
  });

  it('fails a binary file labelled CSV with a reason, leaving no records', async () => {
    const source = (await create({ name: 'Binary', type: 'csv', options: {} })).body.data[0];
    const bytes = new Uint8Array(4096).map((_, i) => (i * 37) % 256);
    expect((await sendUpload(source.upload, bytes)).status).toBe(204);
    const done = await waitForDatasource(app.api, token, ws, source.id);
    expect(done.status).toBe('failed');
    expect(done.error_message).toMatch(/not a text CSV/);
    expect(done.record_count).toBe(0);
    expect(await allRecords(app.api, token, ws, source.id)).toEqual([]);
  });

  it('fails on a text column the file does not have', async () => {
    const source = (await create({ name: 'Cols', type: 'csv', options: { text_columns: ['missing'] } })).body
      .data[0];
    await sendUpload(source.upload, 'a,b\n1,2\n');
    const done = await waitForDatasource(app.api, token, ws, source.id);
    expect(done.status).toBe('failed');
    expect(done.error_message).toMatch(/no column "missing"/);
  });
});

describe('pdf', () => {
  it('takes files in a multipart request: one record per page, blank pages skipped', async () => {
    const pdf = await makePdf(['First page about taxes', '', 'Third page about schools']);
    const form = new FormData();
    form.append('name', 'Report');
    form.append('type', 'pdf');
    form.append('options', JSON.stringify({ split: 'page' }));
    form.append('files', new Blob([new Uint8Array(pdf)], { type: 'application/pdf' }), 'report.pdf');
    const res = await fetch(`${app.url}${base()}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}` },
      body: form,
    });
    expect(res.status).toBe(201);
    const source = ((await res.json()) as { data: { id: string }[] }).data[0]!;
    const done = await waitForDatasource(app.api, token, ws, source.id);
    expect(done).toMatchObject({ status: 'complete', record_count: 2 });
    expect(done.metadata).toMatchObject({ page_count: 3, empty_pages: 1 });
    const records = await allRecords(app.api, token, ws, source.id);
    expect(records.map((r) => r.source_metadata.page_number)).toEqual([1, 3]);
    expect(records[1].text_content).toBe('Third page about schools');
  });

  it('splits by document when asked, and bulk_pdf makes one source per file', async () => {
    const res = await create({
      name: 'Bulk',
      type: 'bulk_pdf',
      options: { filenames: ['a.pdf', 'b.pdf'], split: 'document' },
    });
    expect(res.status).toBe(201);
    expect(res.body.count).toBe(2);
    expect(res.body.data.map((d: { name: string }) => d.name)).toEqual(['a.pdf', 'b.pdf']);
    await sendUpload(res.body.data[0].upload, await makePdf(['one', 'two']));
    await sendUpload(res.body.data[1].upload, await makePdf(['three']));
    for (const d of res.body.data) {
      const done = await waitForDatasource(app.api, token, ws, d.id);
      expect(done).toMatchObject({ status: 'complete', record_count: 1, type: 'pdf' });
    }
    const [a] = await allRecords(app.api, token, ws, res.body.data[0].id);
    expect(a.text_content).toBe('one\n\ntwo');
  });

  it.each([
    ['a text file labelled PDF', Buffer.from('just some text, not a pdf at all'), /not a valid PDF/],
    ['a truncated PDF', Buffer.from('%PDF-1.7\n1 0 obj\n<<'), /not a valid PDF/],
  ])('fails %s with a reason', async (_name, bytes, reason) => {
    const source = (await create({ name: 'Bad', type: 'pdf', options: {} })).body.data[0];
    await sendUpload(source.upload, bytes);
    const done = await waitForDatasource(app.api, token, ws, source.id);
    expect(done.status).toBe('failed');
    expect(done.error_message).toMatch(reason);
  });
});

describe('url lists', () => {
  it('scrapes each URL once over several messages; failed URLs are listed and the source completes', async () => {
    const urls = Array.from({ length: 45 }, (_, i) => `${site.url}/a${i}`);
    const res = await create({
      name: 'News',
      type: 'url_list',
      options: {
        urls: [...urls, `${site.url}/a0`, `${site.url}/A0#frag`.replace('/A0', '/a0'), `${site.url}/missing`],
      },
    });
    expect(res.status).toBe(201);
    const source = res.body.data[0];
    expect(source.options.urls).toHaveLength(46);
    const done = await waitForDatasource(app.api, token, ws, source.id);
    expect(done.status).toBe('complete');
    expect(done.record_count).toBe(45);
    expect(done.metadata.failed_urls).toEqual([{ url: `${site.url}/missing`, reason: 'HTTP 404' }]);
    const records = await allRecords(app.api, token, ws, source.id);
    expect(new Set(records.map((r) => r.source_metadata.url)).size).toBe(45);
    const first = records.find((r) => r.source_metadata.url === `${site.url}/a0`);
    expect(first).toMatchObject({ title: 'Article 0', event_timestamp: '2024-05-01T10:00:00.000Z' });
    expect(first.text_content).toContain('Body of article number 0');
    expect(first.text_content).not.toContain('Menu');
  });

  it('refuses cloud metadata and link-local targets at creation, whatever the private-host setting', async () => {
    const res = await create({
      name: 'Hostile',
      type: 'url_list',
      options: { urls: ['http://169.254.169.254/latest/meta-data/', 'http://[fe80::1]/'] },
    });
    expect(res.status).toBe(422);
    expect(res.body.errors.map((e: { path: string }) => e.path)).toEqual(['options.urls.0']);
    expect(res.body.errors[0].message).toMatch(/link-local|metadata/);
  });

  it('refuses URLs that are not http(s) with a 422 naming the option', async () => {
    const res = await create({
      name: 'Bad',
      type: 'url_list',
      options: { urls: ['https://ok.example.com', 'ftp://x.example.com'] },
    });
    expect(res.status).toBe(422);
    expect(res.body.errors[0].path).toBe('options.urls.1');
  });
});

describe('records', () => {
  it('are searched, filtered, paged, read and deleted within the workspace only', async () => {
    const source = (
      await create({ name: 'Search', type: 'text_block', options: { text: 'Budget vote in the Bundestag' } })
    ).body.data[0];
    await waitForDatasource(app.api, token, ws, source.id);
    const hit = await app.api.get(`/api/v1/workspaces/${ws}/datarecords?q=bundestag`, { token });
    expect(hit.body).toMatchObject({ count: 1, count_exact: true });
    expect(hit.body.data[0].datasource_id).toBe(source.id);
    const miss = await app.api.get(`/api/v1/workspaces/${ws}/datarecords?q=volcano`, { token });
    expect(miss.body).toEqual({ data: [], count: 0, count_exact: true, next_cursor: null });

    const record = hit.body.data[0];
    const other = await app.api.newUser(await app.api.login(SUPERUSER.email, SUPERUSER.password));
    const otherWs = (
      await app.api.post('/api/v1/workspaces', { token: other.token, json: { name: 'Other' } })
    ).body.id;
    expect(
      (await app.api.get(`/api/v1/workspaces/${otherWs}/datarecords/${record.id}`, { token: other.token }))
        .status,
    ).toBe(404);
    expect(
      (await app.api.get(`/api/v1/workspaces/${ws}/datarecords/${record.id}`, { token: other.token })).status,
    ).toBe(404);
    expect(
      (await app.api.get(`/api/v1/workspaces/${ws}/datasources/${source.id}`, { token: other.token })).status,
    ).toBe(404);

    expect((await app.api.get(`/api/v1/workspaces/${ws}/datarecords/${record.id}`, { token })).body).toEqual(
      record,
    );
    expect(
      (await app.api.delete(`/api/v1/workspaces/${ws}/datarecords/${record.id}`, { token })).status,
    ).toBe(204);
    expect((await app.api.get(`${base()}/${source.id}`, { token })).body.record_count).toBe(0);
  });

  it('appends text and URLs to the right kinds of source: 409 on a URL already there, 422 on the wrong kind', async () => {
    const text = (await create({ name: 'T', type: 'text_block', options: { text: 'first' } })).body.data[0];
    await waitForDatasource(app.api, token, ws, text.id);
    const added = await app.api.post(`${base()}/${text.id}/records`, {
      token,
      json: { content: 'second', content_type: 'text' },
    });
    expect(added.status).toBe(201);
    expect(added.body.text_content).toBe('second');
    expect((await app.api.get(`${base()}/${text.id}`, { token })).body.record_count).toBe(2);
    const wrong = await app.api.post(`${base()}/${text.id}/records`, {
      token,
      json: { content: `${site.url}/a1`, content_type: 'url' },
    });
    expect(wrong.status).toBe(422);

    const list = (await create({ name: 'L', type: 'url_list', options: { urls: [`${site.url}/a1`] } })).body
      .data[0];
    await waitForDatasource(app.api, token, ws, list.id);
    const url = await app.api.post(`${base()}/${list.id}/records`, {
      token,
      json: { content: `${site.url}/a2`, content_type: 'url' },
    });
    expect(url.status).toBe(202);
    expect(url.body).toMatchObject({ status: 'pending', datasource_id: list.id, url: `${site.url}/a2` });
    expect(url.headers.get('location')).toBe(`${base()}/${list.id}`);
    await expect
      .poll(async () => (await allRecords(app.api, token, ws, list.id)).map((r) => r.title).sort())
      .toEqual(['Article 1', 'Article 2']);
    expect((await app.api.get(`${base()}/${list.id}`, { token })).body.record_count).toBe(2);
    const again = await app.api.post(`${base()}/${list.id}/records`, {
      token,
      json: { content: `${site.url}/a1`, content_type: 'url' },
    });
    expect(again.status).toBe(409);
  });

  it('scrapes an appended URL in the background: a slow page does not hold the request, a failing one is reported', async () => {
    const slow = createServer((_req, res) => {
      setTimeout(
        () => res.writeHead(200, { 'content-type': 'text/html' }).end(article('Slow', 'Took a while')),
        2500,
      );
    });
    await new Promise<void>((r) => slow.listen(0, '127.0.0.1', r));
    const slowUrl = `http://127.0.0.1:${(slow.address() as { port: number }).port}/slow`;
    try {
      const list = (await create({ name: 'Later', type: 'url_list', options: { urls: [`${site.url}/a3`] } }))
        .body.data[0];
      await waitForDatasource(app.api, token, ws, list.id);
      const started = Date.now();
      const res = await app.api.post(`${base()}/${list.id}/records`, {
        token,
        json: { content: slowUrl, content_type: 'url' },
      });
      expect(res.status).toBe(202);
      expect(Date.now() - started).toBeLessThan(1500);
      const missing = await app.api.post(`${base()}/${list.id}/records`, {
        token,
        json: { content: `${site.url}/missing`, content_type: 'url' },
      });
      expect(missing.status).toBe(202);
      await expect
        .poll(async () => (await allRecords(app.api, token, ws, list.id)).map((r) => r.title).sort(), {
          timeout: 15_000,
        })
        .toEqual(['Article 3', 'Slow']);
      await expect
        .poll(
          async () => (await app.api.get(`${base()}/${list.id}`, { token })).body.metadata.failed_appends,
          {
            timeout: 15_000,
          },
        )
        .toEqual([{ url: `${site.url}/missing`, reason: expect.stringMatching(/404/) }]);
      const db = await app.db();
      const failure = await db
        .selectFrom('datasource_failures')
        .select(['reason', 'run_id'])
        .where('datasource_id', '=', list.id)
        .executeTakeFirstOrThrow();
      expect(failure).toMatchObject({ run_id: null, reason: expect.stringMatching(/404/) });
    } finally {
      await new Promise((r) => slow.close(r));
    }
  }, 30_000);
});

describe('reliability', () => {
  it('a duplicated message and a reprocess end with the records of one clean run', async () => {
    const source = (await create({ name: 'Dup', type: 'text_block', options: { text: 'once only' } })).body
      .data[0];
    const done = await waitForDatasource(app.api, token, ws, source.id);
    const message = {
      kind: 'process_datasource',
      datasource_id: source.id,
      run_id: done.run_id ?? undefined,
    };
    // Redeliver the creation message (its run is complete: nothing changes).
    const db = await app.db();
    const row = await db
      .selectFrom('datasources')
      .select('run_id')
      .where('id', '=', source.id)
      .executeTakeFirstOrThrow();
    await platform().queue.send('docsift-ingest', [
      { ...message, run_id: row.run_id },
      { ...message, run_id: row.run_id },
    ]);
    await new Promise((r) => setTimeout(r, 1500));
    expect(await allRecords(app.api, token, ws, source.id)).toHaveLength(1);

    const re = await app.api.post(`${base()}/${source.id}/reprocess`, { token });
    expect(re.status).toBe(202);
    const after = await waitForDatasource(app.api, token, ws, source.id);
    expect(after).toMatchObject({ status: 'complete', record_count: 1 });
    const records = await allRecords(app.api, token, ws, source.id);
    expect(records).toHaveLength(1);
  });

  it('a message that always breaks the worker is retried, dead-lettered, and fails its datasource', async () => {
    const source = (await create({ name: 'Poison', type: 'csv', options: {} })).body.data[0];
    const db = await app.db();
    // Options no API call could store: the worker trips over them on every attempt.
    await db
      .updateTable('datasources')
      .set({ options: JSON.stringify({ text_columns: 5 }) })
      .where('id', '=', source.id)
      .execute();
    await sendUpload(source.upload, 'a,b\n1,2\n');
    const done = await waitForDatasource(app.api, token, ws, source.id, 30_000);
    expect(done.status).toBe('failed');
    expect(done.error_message).toMatch(/^Processing failed after every retry/);
  });

  it('deleting a datasource removes its records and its file', async () => {
    const source = (await create({ name: 'Gone', type: 'csv', options: {} })).body.data[0];
    await sendUpload(source.upload, 'a,b\n1,2\n3,4\n');
    await waitForDatasource(app.api, token, ws, source.id);
    expect((await app.api.delete(`${base()}/${source.id}`, { token })).status).toBe(204);
    expect((await app.api.get(`${base()}/${source.id}`, { token })).status).toBe(404);
    const db = await app.db();
    const left = await db.selectFrom('records').select('id').where('datasource_id', '=', source.id).execute();
    expect(left).toEqual([]);
    // The files go with a purge message once the delete has committed.
    await expect
      .poll(() =>
        readdir(path.join(app.dataDir, 'objects', 'workspaces', ws, 'datasources', source.id)).catch(
          () => [],
        ),
      )
      .toEqual([]);
  });
});
