import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { platform } from '#lib/platform.ts';
import { SUPERUSER, startTestApp, type TestApp } from '#test/support/app.ts';
import { type FakeLlm, startFakeLlm } from '#test/support/fake-llm.ts';
import { waitForDatasource } from '#test/support/ingest.ts';

import type { Emulator } from './emulators.ts';

/**
 * Classification on the aws platform against an AWS emulator: jobs planned and classified through real
 * SQS queues, with both providers answered by the fake (OpenAI wire protocol, Bedrock Converse).
 * Registers the same tests for each emulator (one test file each).
 */
export function classifyCases(emulator: Emulator): void {
  let app: TestApp;
  let fake: FakeLlm;
  let token: string;
  let ws: string;
  let schemeId: string;
  let datasourceId: string;
  const suffix = randomBytes(4).toString('hex');
  const classifyQueue = `docsift-classify-${suffix}`;

  beforeAll(async () => {
    fake = await startFakeLlm();
    process.env.AWS_ENDPOINT_URL = emulator.endpoint();
    process.env.AWS_ENDPOINT_URL_BEDROCK_RUNTIME = fake.url;
    process.env.OPENAI_BASE_URL = `${fake.url}/v1`;
    process.env.OPENAI_MODELS = 'fake-model';
    process.env.BEDROCK_MODELS = 'anthropic.fake-v1';
    app = await startTestApp({
      PLATFORM: 'aws',
      UPLOADS_BUCKET: `docsift-test-${suffix}`,
      INGEST_QUEUE: `docsift-ingest-${suffix}`,
      CLASSIFY_QUEUE: classifyQueue,
      QUEUE_VISIBILITY_TIMEOUT_SECONDS: '1',
      // Small enough that every export here takes the stored-file path.
      EXPORT_INLINE_MAX_BYTES: '200',
    });
    const admin = await app.api.login(SUPERUSER.email, SUPERUSER.password);
    token = (await app.api.newUser(admin)).token;
    ws = (await app.api.post('/api/v1/workspaces', { token, json: { name: 'AWS classify' } })).body.id;
    schemeId = (
      await app.api.post(`/api/v1/workspaces/${ws}/classification_schemes`, {
        token,
        json: {
          name: 'Stance',
          fields: [
            {
              name: 'stance',
              description: 'For or against',
              type: 'str',
              is_set_of_labels: true,
              labels: ['for', 'against'],
            },
            {
              name: 'certain',
              description: 'Is the stance explicit',
              type: 'bool',
              request_justification: true,
            },
          ],
        },
      })
    ).body.id;
    const ds = (
      await app.api.post(`/api/v1/workspaces/${ws}/datasources`, {
        token,
        json: {
          name: 'Speech',
          type: 'text_block',
          options: { text: 'We support the new rail line wholeheartedly.' },
        },
      })
    ).body.data[0];
    await waitForDatasource(app.api, token, ws, ds.id);
    for (const content of ['The tax is unfair.', 'Schools need more teachers.']) {
      await app.api.post(`/api/v1/workspaces/${ws}/datasources/${ds.id}/records`, {
        token,
        json: { content, content_type: 'text' },
      });
    }
    datasourceId = ds.id;
  });
  afterAll(async () => {
    await app.stop();
    await fake.close();
  });

  async function runJob(provider: string) {
    const res = await app.api.post(`/api/v1/workspaces/${ws}/classification_jobs`, {
      token,
      json: { name: provider, scheme_ids: [schemeId], datasource_ids: [datasourceId], provider },
    });
    expect(res.status).toBe(201);
    for (let i = 0; i < 200; i++) {
      const job = await app.api.get(`/api/v1/workspaces/${ws}/classification_jobs/${res.body.id}`, { token });
      if (['completed', 'completed_with_errors', 'failed'].includes(job.body.status)) return job.body;
      await new Promise((r) => setTimeout(r, 150));
    }
    throw new Error('job did not finish');
  }

  describe('classification through SQS', () => {
    it.each(['openai', 'bedrock'])(
      'a job with the %s provider completes with one valid result per record',
      async (provider) => {
        const job = await runJob(provider);
        expect(job).toMatchObject({
          status: 'completed',
          provider,
          progress: { total: 3, succeeded: 3, failed: 0 },
        });
        const results = await app.api.get(
          `/api/v1/workspaces/${ws}/classification_results?job_id=${job.id}`,
          {
            token,
          },
        );
        expect(results.body.count).toBe(3);
        for (const r of results.body.data) {
          expect(['for', 'against']).toContain(r.value.stance);
          expect(typeof r.value.certain).toBe('boolean');
          expect(r.justifications.certain.evidence[0].verified).toBe(true);
        }
        const protocol = provider === 'openai' ? 'openai' : 'bedrock';
        expect(fake.requests.filter((r) => r.protocol === protocol).length).toBeGreaterThanOrEqual(3);
      },
    );

    it('a redelivered classify message stores nothing twice', async () => {
      const job = await runJob('openai');
      const results = await app.api.get(`/api/v1/workspaces/${ws}/classification_results?job_id=${job.id}`, {
        token,
      });
      const items = results.body.data.map((r: any) => ({ record_id: r.record_id, scheme_id: r.scheme_id }));
      await platform().queue.send(classifyQueue, [
        { kind: 'classify_items', job_id: job.id, items },
        { kind: 'classify_items', job_id: job.id, items },
      ]);
      await new Promise((r) => setTimeout(r, 2000));
      const after = await app.api.get(`/api/v1/workspaces/${ws}/classification_results?job_id=${job.id}`, {
        token,
      });
      expect(after.body.count).toBe(3);
    });

    it('writes an export too large to go inline in the background, to S3, then hands out a presigned download', async () => {
      const job = await runJob('openai');
      const res = await app.api.get(
        `/api/v1/workspaces/${ws}/classification_jobs/${job.id}/export?format=jsonl`,
        { token },
      );
      expect(res.status).toBe(202);
      expect(res.body).toMatchObject({ type: 'classification_job', resource_id: job.id, format: 'jsonl' });
      const exportPath = res.headers.get('location')!;
      expect(exportPath).toBe(`/api/v1/workspaces/${ws}/exports/${res.body.id}`);
      let done = res.body;
      for (let i = 0; i < 100 && done.status !== 'complete' && done.status !== 'failed'; i++) {
        await new Promise((r) => setTimeout(r, 200));
        done = (await app.api.get(exportPath, { token })).body;
      }
      expect(done).toMatchObject({ status: 'complete', counts: { results: 3 } });
      const location = done.download.url;
      expect(location).toContain('/exports/');
      const file = await (await fetch(location)).text();
      const lines = file
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l));
      const results = await app.api.get(`/api/v1/workspaces/${ws}/classification_results?job_id=${job.id}`, {
        token,
      });
      expect(lines.map((l) => l.id).sort()).toEqual(
        results.body.data.map((r: { id: string }) => r.id).sort(),
      );
    });
  });
}
