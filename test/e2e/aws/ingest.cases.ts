import { randomBytes } from 'node:crypto';
import { GetQueueAttributesCommand } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { platform } from '#lib/platform.ts';
import { queueUrl, sqsClient } from '#lib/ports/queue/sqs.ts';
import { SUPERUSER, startTestApp, type TestApp } from '#test/support/app.ts';
import { makeCsv, makePdf } from '#test/support/fixtures.ts';
import { allRecords, sendUpload, waitForDatasource } from '#test/support/ingest.ts';

import type { Emulator } from './emulators.ts';

/**
 * The aws platform against an AWS emulator: real presigned POSTs to S3, real S3 → SQS
 * notifications, and the local runtime consuming SQS the way a Lambda event source mapping does.
 * Registers the same tests for each emulator (one test file each, as each file's runtime takes
 * its endpoint from `AWS_ENDPOINT_URL`).
 */
export function ingestCases(emulator: Emulator): void {
  let app: TestApp;
  let token: string;
  let ws: string;
  const suffix = randomBytes(4).toString('hex');
  const bucket = `docsift-test-${suffix}`;
  const queue = `docsift-ingest-${suffix}`;

  beforeAll(async () => {
    process.env.AWS_ENDPOINT_URL = emulator.endpoint();
    app = await startTestApp({
      PLATFORM: 'aws',
      UPLOADS_BUCKET: bucket,
      INGEST_QUEUE: queue,
      QUEUE_VISIBILITY_TIMEOUT_SECONDS: '1',
      MAX_UPLOAD_BYTES: '1000000',
      // Datasources over 100 records are deleted in the background, 40 records a chunk.
      DELETE_INLINE_MAX_RECORDS: '100',
      DELETE_CHUNK_RECORDS: '40',
    });
    const admin = await app.api.login(SUPERUSER.email, SUPERUSER.password);
    token = (await app.api.newUser(admin)).token;
    ws = (await app.api.post('/api/v1/workspaces', { token, json: { name: 'AWS' } })).body.id;
  });
  afterAll(() => app.stop());

  const base = () => `/api/v1/workspaces/${ws}/datasources`;
  const create = (json: unknown) => app.api.post(base(), { token, json });

  async function queueDepth(name: string): Promise<number> {
    const out = await sqsClient().send(
      new GetQueueAttributesCommand({
        QueueUrl: await queueUrl(sqsClient(), name),
        AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
      }),
    );
    return (
      Number(out.Attributes?.ApproximateNumberOfMessages) +
      Number(out.Attributes?.ApproximateNumberOfMessagesNotVisible)
    );
  }

  describe('presigned uploads through S3 events and SQS', () => {
    it('a CSV posted to S3 is processed with no further call from the client', async () => {
      const res = await create({ name: 'Rows', type: 'csv', options: {} });
      expect(res.status).toBe(201);
      const source = res.body.data[0];
      expect(source.upload.url).toContain(emulator.endpoint());
      expect(source.upload.fields).toHaveProperty('Policy');
      const rows = [
        ['id', 'text'],
        ...Array.from({ length: 2500 }, (_, i) => [String(i), `row ${i}, with a comma`]),
      ];
      expect((await sendUpload(source.upload, makeCsv(rows), 'rows.csv')).status).toBe(204);
      const done = await waitForDatasource(app.api, token, ws, source.id);
      expect(done).toMatchObject({ status: 'complete', record_count: 2500 });

      // The stored file comes back through a presigned GET.
      const content = await fetch(`${app.url}${base()}/${source.id}/content`, {
        headers: { authorization: `Bearer ${token}` },
        redirect: 'manual',
      });
      expect(content.status).toBe(302);
      const file = await fetch(content.headers.get('location')!);
      expect((await file.text()).startsWith('id,text\n0,')).toBe(true);
    });

    it('a PDF posted to S3 becomes one record per page', async () => {
      const source = (await create({ name: 'Doc', type: 'pdf', options: {} })).body.data[0];
      expect(
        (await sendUpload(source.upload, await makePdf(['alpha', 'beta', 'gamma']), 'doc.pdf')).status,
      ).toBe(204);
      const done = await waitForDatasource(app.api, token, ws, source.id);
      expect(done).toMatchObject({ status: 'complete', record_count: 3 });
      const records = await allRecords(app.api, token, ws, source.id);
      expect(records.map((r) => r.text_content)).toEqual(['alpha', 'beta', 'gamma']);
    });

    it('a file over the size limit never becomes records', async () => {
      const source = (await create({ name: 'Huge', type: 'csv', options: {} })).body.data[0];
      const huge = `text\n${'x'.repeat(1_000_100)}\n`;
      const res = await sendUpload(source.upload, huge, 'huge.csv');
      if (emulator.enforcesPostPolicy) {
        // Real S3 (and LocalStack) refuse a POST over its policy's content-length-range: nothing
        // is stored, no event is sent, and the datasource still waits for its file.
        expect(res.status).toBe(400);
        expect(await res.text()).toMatch(/EntityTooLarge/);
        expect(await platform().objects.head(source.upload.fields.key)).toBeUndefined();
        await new Promise((r) => setTimeout(r, 1000));
        expect((await app.api.get(`${base()}/${source.id}`, { token })).body.status).toBe('awaiting_upload');
      } else {
        // moto stores it anyway: the worker's own size check is the second line of defence.
        expect(res.status).toBe(204);
        const done = await waitForDatasource(app.api, token, ws, source.id);
        expect(done.status).toBe('failed');
        expect(done.error_message).toMatch(/larger than the limit of 1000000 bytes/);
      }
      expect(await allRecords(app.api, token, ws, source.id)).toEqual([]);
    });

    it('a corrupt file fails its datasource with a reason', async () => {
      const source = (await create({ name: 'Corrupt', type: 'pdf', options: {} })).body.data[0];
      await sendUpload(source.upload, 'plain text pretending to be a PDF');
      const done = await waitForDatasource(app.api, token, ws, source.id);
      expect(done.status).toBe('failed');
      expect(done.error_message).toMatch(/not a valid PDF/);
    });
  });

  describe('at-least-once delivery', () => {
    it('the same S3 event delivered three times ends with the records of one run', async () => {
      const source = (await create({ name: 'Twice', type: 'csv', options: {} })).body.data[0];
      await sendUpload(source.upload, makeCsv([['a'], ['1'], ['2'], ['3']]));
      await waitForDatasource(app.api, token, ws, source.id);
      const key = source.upload.fields.key;
      const event = {
        Records: [
          { eventName: 'ObjectCreated:Post', s3: { bucket: { name: bucket }, object: { key, size: 10 } } },
        ],
      };
      await platform().queue.send(queue, [event, event, event]);
      for (let i = 0; i < 50 && (await queueDepth(queue)) > 0; i++)
        await new Promise((r) => setTimeout(r, 100));
      const records = await allRecords(app.api, token, ws, source.id);
      expect(records.map((r) => r.text_content).sort()).toEqual(['a: 1', 'a: 2', 'a: 3']);
      expect((await app.api.get(`${base()}/${source.id}`, { token })).body.record_count).toBe(3);
    });

    it('a message that keeps failing goes to the DLQ after its retries, and its datasource fails', async () => {
      const source = (await create({ name: 'Poison', type: 'csv', options: {} })).body.data[0];
      const db = await app.db();
      // Options no API call could store: the worker trips over them on every attempt.
      await db
        .updateTable('datasources')
        .set({ options: JSON.stringify({ text_columns: 5 }) })
        .where('id', '=', source.id)
        .execute();
      await sendUpload(source.upload, 'a,b\n1,2\n');
      const done = await waitForDatasource(app.api, token, ws, source.id, 25_000);
      expect(done.status).toBe('failed');
      expect(done.error_message).toMatch(/^Processing failed after every retry/);
      expect(await queueDepth(queue)).toBe(0);
    });

    it('garbage on the queue neither blocks it nor stays on it', async () => {
      await sqsClient().send(
        new (await import('@aws-sdk/client-sqs')).SendMessageCommand({
          QueueUrl: await queueUrl(sqsClient(), queue),
          MessageBody: 'not json',
        }),
      );
      const source = (await create({ name: 'After', type: 'text_block', options: { text: 'still flowing' } }))
        .body.data[0];
      expect((await waitForDatasource(app.api, token, ws, source.id)).status).toBe('complete');
      // Three receives, each after a visibility timeout: on a loaded machine that took over 30 s.
      // Empty means empty twice, a second apart: a message between receives can read as gone.
      const deadline = Date.now() + 75_000;
      let emptyReads = 0;
      while (Date.now() < deadline && emptyReads < 2) {
        emptyReads = (await queueDepth(queue)) === 0 ? emptyReads + 1 : 0;
        await new Promise((r) => setTimeout(r, emptyReads > 0 ? 1000 : 100));
      }
      expect(await queueDepth(queue)).toBe(0);
    }, 120_000);
  });

  describe('uploads and their owners', () => {
    const exists = async (key: string) => (await platform().objects.head(key)) !== undefined;

    it('a form used again after its file was taken still uploads (S3 cannot refuse), and the worker deletes it', async () => {
      const source = (await create({ name: 'Again', type: 'csv', options: {} })).body.data[0];
      expect((await sendUpload(source.upload, 'text\noriginal row\n', 'rows.csv')).status).toBe(204);
      await waitForDatasource(app.api, token, ws, source.id);
      const before = await allRecords(app.api, token, ws, source.id);
      const formKey = source.upload.fields.key;
      await expect.poll(() => exists(formKey)).toBe(false);

      expect((await sendUpload(source.upload, 'text\nswapped row\n', 'rows.csv')).status).toBe(204);
      await expect.poll(() => exists(formKey), { timeout: 10_000 }).toBe(false);
      expect((await app.api.post(`${base()}/${source.id}/reprocess`, { token })).status).toBe(202);
      await waitForDatasource(app.api, token, ws, source.id);
      const after = await allRecords(app.api, token, ws, source.id);
      expect(after.map((r) => [r.id, r.text_content])).toEqual(before.map((r) => [r.id, r.text_content]));
      const content = await fetch(`${app.url}${base()}/${source.id}/content`, {
        headers: { authorization: `Bearer ${token}` },
        redirect: 'manual',
      });
      expect(await (await fetch(content.headers.get('location')!)).text()).toBe('text\noriginal row\n');
    });

    it('an upload to a deleted datasource is deleted by the worker', async () => {
      const source = (await create({ name: 'Late', type: 'csv', options: {} })).body.data[0];
      expect((await app.api.delete(`${base()}/${source.id}`, { token })).status).toBe(204);
      expect((await sendUpload(source.upload, 'a,b\n1,2\n', 'late.csv')).status).toBe(204);
      await expect.poll(() => exists(source.upload.fields.key), { timeout: 10_000 }).toBe(false);
    });

    it('a large datasource is deleted in the background through SQS (202, deleting), then gone with its objects', async () => {
      const source = (await create({ name: 'Large', type: 'csv', options: {} })).body.data[0];
      const rows = [['text'], ...Array.from({ length: 300 }, (_, i) => [`row ${i}`])];
      expect((await sendUpload(source.upload, makeCsv(rows), 'rows.csv')).status).toBe(204);
      await waitForDatasource(app.api, token, ws, source.id);
      const db = await app.db();
      const { object_key } = await db
        .selectFrom('datasources')
        .select('object_key')
        .where('id', '=', source.id)
        .executeTakeFirstOrThrow();
      const res = await app.api.delete(`${base()}/${source.id}`, { token });
      expect(res.status).toBe(202);
      expect(res.body.status).toBe('deleting');
      await expect
        .poll(async () => (await app.api.get(`${base()}/${source.id}`, { token })).status, {
          timeout: 20_000,
        })
        .toBe(404);
      const left = await db
        .selectFrom('records')
        .select('id')
        .where('datasource_id', '=', source.id)
        .executeTakeFirst();
      expect(left).toBeUndefined();
      await expect.poll(() => exists(object_key!), { timeout: 10_000 }).toBe(false);
    });

    it('deleting a workspace purges its objects', async () => {
      const other = (await app.api.post('/api/v1/workspaces', { token, json: { name: 'Doomed' } })).body.id;
      const source = (
        await app.api.post(`/api/v1/workspaces/${other}/datasources`, {
          token,
          json: { name: 'Rows', type: 'csv', options: {} },
        })
      ).body.data[0];
      expect((await sendUpload(source.upload, 'a,b\n1,2\n', 'rows.csv')).status).toBe(204);
      await waitForDatasource(app.api, token, other, source.id);
      const db = await app.db();
      const { object_key } = await db
        .selectFrom('datasources')
        .select('object_key')
        .where('id', '=', source.id)
        .executeTakeFirstOrThrow();
      expect(object_key).toMatch(/\/files\//);
      expect(await exists(object_key!)).toBe(true);
      expect((await app.api.delete(`/api/v1/workspaces/${other}`, { token })).status).toBe(204);
      await expect.poll(() => exists(object_key!), { timeout: 10_000 }).toBe(false);
    });
  });
}
