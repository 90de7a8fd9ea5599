import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_PAGE_BYTES } from '#lib/http/handler.ts';
import { MAX_RESPONSE_BYTES } from '#lib/local/server.ts';
import { TEXT_PREVIEW_CHARS } from '#lib/services/records.ts';
import { SUPERUSER, startTestApp, type TestApp } from '#test/support/app.ts';
import { makeCsv } from '#test/support/fixtures.ts';
import { waitForDatasource } from '#test/support/ingest.ts';

/**
 * Lambda answers at most 6 MB. Lists of records and datasources holding 5 MB texts used to
 * answer 10 MB; now list items carry a preview, pages stop at about 1 MB, and the whole text
 * stays on the item's own route.
 */

let app: TestApp;
let token: string;
let ws: string;
const FIVE_MB = 5_000_000;
const textIds: string[] = [];
let csvId: string;
/** Bytes of every list answer this file saw, by path. */
const listSizes = new Map<string, number>();

async function list(path: string) {
  const res = await app.api.get(path, { token });
  expect(res.status, path).toBe(200);
  const bytes = Buffer.byteLength(res.text);
  listSizes.set(path, bytes);
  return { ...res, bytes };
}

beforeAll(async () => {
  app = await startTestApp();
  token = await app.api.login(SUPERUSER.email, SUPERUSER.password);
  ws = (await app.api.post('/api/v1/workspaces', { token, json: { name: 'Big' } })).body.id;
  for (const letter of ['a', 'b']) {
    const res = await app.api.post(`/api/v1/workspaces/${ws}/datasources`, {
      token,
      json: { name: `Five MB of ${letter}`, type: 'text_block', options: { text: letter.repeat(FIVE_MB) } },
    });
    expect(res.status).toBe(201);
    textIds.push(res.body.data[0].id);
  }
  // 700 rows of 2,000 characters: a page of 1,000 would be 3 MB or more.
  const rows = Array.from({ length: 700 }, (_, i) => [`row ${i}`, `${i} `.padEnd(2000, 'z')]);
  const form = new FormData();
  form.append('name', 'Wide rows');
  form.append('type', 'csv');
  form.append('files', new Blob([makeCsv([['title', 'body'], ...rows])]), 'wide.csv');
  const created = await fetch(`${app.url}/api/v1/workspaces/${ws}/datasources`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}` },
    body: form,
  });
  csvId = ((await created.json()) as { data: { id: string }[] }).data[0]!.id;
  for (const id of [...textIds, csvId]) {
    expect((await waitForDatasource(app.api, token, ws, id, 60_000)).status).toBe('complete');
  }
}, 120_000);
afterAll(() => app?.stop());

describe('lists under Lambda’s response limit', () => {
  it('lists records with a preview of their text, the whole text on the record’s own route', async () => {
    const res = await list(`/api/v1/workspaces/${ws}/datarecords?limit=2&datasource_id=${textIds[0]}`);
    const [item] = res.body.data;
    expect(item).toMatchObject({ text_length: FIVE_MB, text_truncated: true });
    expect(item.text_content).toBe('a'.repeat(TEXT_PREVIEW_CHARS));

    const whole = await app.api.get(`/api/v1/workspaces/${ws}/datarecords/${item.id}`, { token });
    expect(whole.status).toBe(200);
    expect(whole.body).toMatchObject({ text_length: FIVE_MB, text_truncated: false });
    expect(whole.body.text_content).toHaveLength(FIVE_MB);

    const both = await list(`/api/v1/workspaces/${ws}/datarecords?limit=1000`);
    expect(both.body.count).toBe(702);
    expect(both.bytes).toBeLessThan(MAX_PAGE_BYTES + 10_000);
  });

  it('lists datasources with a preview of a text_block’s text, the whole text on its own route', async () => {
    const res = await list(`/api/v1/workspaces/${ws}/datasources`);
    expect(res.body.data).toHaveLength(3);
    const text = res.body.data.find((d: { id: string }) => d.id === textIds[1]);
    expect(text.options).toEqual({
      text: 'b'.repeat(TEXT_PREVIEW_CHARS),
      text_length: FIVE_MB,
      text_truncated: true,
    });
    expect(res.bytes).toBeLessThan(100_000);
    const whole = await app.api.get(`/api/v1/workspaces/${ws}/datasources/${textIds[1]}`, { token });
    expect(whole.body.options.text).toHaveLength(FIVE_MB);
  });

  it('cuts a page at about 1 MB whatever its limit, and the cursor continues after its last item', async () => {
    const seen = new Set<string>();
    let cursor: string | null = null;
    let pages = 0;
    do {
      const res = await list(
        `/api/v1/workspaces/${ws}/datarecords?datasource_id=${csvId}&limit=1000${cursor ? `&cursor=${cursor}` : ''}`,
      );
      expect(res.bytes).toBeLessThanOrEqual(MAX_PAGE_BYTES + 10_000);
      for (const record of res.body.data) {
        expect(seen.has(record.id)).toBe(false);
        seen.add(record.id);
      }
      cursor = res.body.next_cursor;
      pages++;
    } while (cursor);
    expect(seen.size).toBe(700);
    expect(pages).toBeGreaterThan(1);
  });

  it('keeps the largest list answer well below the 6 MB limit', () => {
    const largest = Math.max(...listSizes.values());
    console.info(`largest list answer: ${largest} bytes (limit ${MAX_RESPONSE_BYTES})`);
    expect(largest).toBeLessThan(MAX_RESPONSE_BYTES / 4);
  });
});
