import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { OpenAiProvider } from '#lib/ports/llm/openai.ts';
import { type LlmRequest, type LlmUsage, ProviderError } from '#lib/ports/llm/provider.ts';
import { rejectionOf } from '#test/support/errors.ts';
import { startFakeLlm } from '#test/support/fake-llm.ts';

const KEY = 'sk-test-0123456789abcdefSECRET';
const schema = {
  type: 'object',
  properties: {
    label: { type: 'string', enum: ['spam', 'ham'] },
    evidence: { type: 'array', items: { type: 'string' } },
  },
  required: ['label', 'evidence'],
  additionalProperties: false,
};
const request: LlmRequest = {
  model: 'gpt-4o-mini',
  system: 'Classify the record.',
  messages: [{ role: 'user', content: '<record>Win a free cruise now, click here!</record>' }],
  jsonSchema: schema,
  schemaName: 'spam check',
  temperature: 0,
};

const fake = await startFakeLlm();
/** A loopback URL where nothing listens (fetch refuses "bad ports" such as 1 before connecting). */
const deadUrl = await new Promise<string>((resolve) => {
  const server = createServer().listen(0, '127.0.0.1', () => {
    const { port } = server.address() as AddressInfo;
    server.close(() => resolve(`http://127.0.0.1:${port}/v1`));
  });
});
const openai = new OpenAiProvider({ baseUrl: `${fake.url}/v1/`, apiKey: KEY, timeoutMs: 2000 });
afterAll(() => fake.close());
beforeEach(() => fake.reset());

/** The ProviderError a call throws. */
const failure = (call: Promise<unknown>) => rejectionOf(call, ProviderError);

describe('OpenAiProvider', () => {
  it('sends a strict json_schema request with the key as bearer and parses the answer', async () => {
    const response = await openai.classify(request);
    expect(response.output).toEqual({ label: 'spam', evidence: ['Win a free cruise now,'] });
    expect(JSON.parse(response.raw)).toEqual(response.output);
    expect(response.usage?.inputTokens).toBeGreaterThan(0);

    const [sent] = fake.requests;
    expect(sent?.headers.authorization).toBe(`Bearer ${KEY}`);
    expect(sent?.body.response_format).toEqual({
      type: 'json_schema',
      json_schema: { name: 'spam_check', schema, strict: true },
    });
    expect(sent?.body.messages[0]).toEqual({ role: 'system', content: 'Classify the record.' });
    expect(sent?.body.temperature).toBe(0);
  });

  it('sends no Authorization header without a key (Ollama)', async () => {
    const ollama = new OpenAiProvider({ baseUrl: `${fake.url}/v1`, timeoutMs: 2000 });
    await ollama.classify(request);
    expect(fake.requests[0]?.headers.authorization).toBeUndefined();
  });

  it('reads a lazily supplied key once per call', async () => {
    const lazy = new OpenAiProvider({
      baseUrl: `${fake.url}/v1`,
      apiKey: async () => 'sk-from-secret',
      timeoutMs: 2000,
    });
    await lazy.classify(request);
    expect(fake.requests[0]?.headers.authorization).toBe('Bearer sk-from-secret');
  });

  it('gives output null and the raw text for an answer that is not JSON', async () => {
    fake.script({ kind: 'text', body: 'I think it is spam.' });
    expect(await openai.classify(request)).toMatchObject({ output: null, raw: 'I think it is spam.' });
  });

  it('tolerates a ```json fence around the answer', async () => {
    fake.script({ kind: 'text', body: 'Sure:\n```json\n{"label":"ham","evidence":[]}\n```' });
    expect((await openai.classify(request)).output).toEqual({ label: 'ham', evidence: [] });
  });

  it('passes an answer that breaks the schema through: validating it is the caller’s job', async () => {
    fake.script({ kind: 'invalid' });
    expect((await openai.classify(request)).output).toEqual({
      evidence: ['Win a free cruise now,'],
      unexpected_field: true,
    });
  });

  it('turns a refusal into a final error', async () => {
    fake.script({ kind: 'refusal', body: 'I can’t help with that.' });
    const error = await failure(openai.classify(request));
    expect(error).toMatchObject({
      retryable: false,
      reason: 'The model refused to answer',
      detail: 'I can’t help with that.',
    });
  });

  it('maps a 429 with Retry-After to a retryable error carrying the wait', async () => {
    fake.script({ kind: 'status', status: 429, retryAfter: 3 });
    const error = await failure(openai.classify(request));
    expect(error).toMatchObject({ retryable: true, status: 429, retryAfterMs: 3000 });
    expect(error.reason).toBe('Rate limited by the provider (429)');
  });

  it('reads Retry-After given as an HTTP date', async () => {
    fake.script({ kind: 'status', status: 503, retryAfter: new Date(Date.now() + 5000).toUTCString() });
    const error = await failure(openai.classify(request));
    expect(error.retryable).toBe(true);
    expect(error.retryAfterMs).toBeGreaterThan(3000);
    expect(error.retryAfterMs).toBeLessThanOrEqual(5000);
  });

  it('fails a 401 as final, without the key the provider echoed', async () => {
    fake.script({ kind: 'status', status: 401 });
    const error = await failure(openai.classify(request));
    expect(error).toMatchObject({
      retryable: false,
      status: 401,
      reason: 'The provider refused the API key',
    });
    expect(`${error.message} ${error.stack} ${JSON.stringify(error)}`).not.toContain(KEY);
  });

  it('never quotes a 400’s message in the reason; keeps it for the log with the key redacted in any spelling', async () => {
    const spaced = [...KEY.toUpperCase()].join(' ');
    fake.script({
      kind: 'status',
      status: 400,
      message: `Invalid schema for key ${spaced}: 'evidence' is required`,
    });
    const error = await failure(openai.classify(request));
    expect(error.retryable).toBe(false);
    expect(error.reason).toBe('The provider rejected the request (400)');
    expect(error.detail).toBe("Invalid schema for key [redacted]: 'evidence' is required");
  });

  it('times out a slow answer with a retryable error', async () => {
    const quick = new OpenAiProvider({ baseUrl: `${fake.url}/v1`, apiKey: KEY, timeoutMs: 100 });
    fake.script({ kind: 'slow', ms: 1000 });
    const error = await failure(quick.classify(request));
    expect(error).toMatchObject({ retryable: true, reason: 'The provider did not answer in time' });
  });

  it('treats the caller’s abort as final', async () => {
    fake.script({ kind: 'slow', ms: 1000 });
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 50);
    const error = await failure(openai.classify({ ...request, signal: controller.signal }));
    expect(error).toMatchObject({ retryable: false, reason: 'The request was cancelled' });
  });

  it('reports an unreachable server as retryable', async () => {
    const nowhere = new OpenAiProvider({ baseUrl: deadUrl, apiKey: KEY, timeoutMs: 1000 });
    const error = await failure(nowhere.classify(request));
    expect(error).toMatchObject({ retryable: true, reason: 'Could not reach the provider (ECONNREFUSED)' });
  });

  it('lists models, and [] when it cannot', async () => {
    expect(await openai.models()).toEqual(['fake-small']);
    expect(await new OpenAiProvider({ baseUrl: deadUrl, timeoutMs: 500 }).models()).toEqual([]);
  });
});

describe('OpenAiProvider usage', () => {
  it('reports every billed answer through onUsage, cached prompt tokens included', async () => {
    const usages: LlmUsage[] = [];
    const withUsage = { ...request, onUsage: (u: LlmUsage) => void usages.push(u) };
    const response = await openai.classify(withUsage);
    await openai.classify(withUsage);
    // The fake caches a system prompt it has seen: the second call reads it from the cache.
    const [first, second] = fake.requests.map((r) => r.usage!);
    expect(usages).toEqual([
      { inputTokens: first!.input, cachedInputTokens: 0, outputTokens: first!.output },
      { inputTokens: second!.input, cachedInputTokens: second!.cached, outputTokens: second!.output },
    ]);
    expect(second!.cached).toBeGreaterThan(0);
    expect(response.usage).toEqual(usages[0]);
  });

  it('reports the usage of a refusal and of an answer without a message: both were billed', async () => {
    const usages: LlmUsage[] = [];
    const withUsage = { ...request, onUsage: (u: LlmUsage) => void usages.push(u) };
    fake.script({ kind: 'refusal', body: 'No.' }, { kind: 'empty' });
    await failure(openai.classify(withUsage));
    expect((await failure(openai.classify(withUsage))).retryable).toBe(true);
    expect(usages).toHaveLength(2);
  });

  it('reports nothing for an error status (not billed)', async () => {
    const usages: LlmUsage[] = [];
    fake.script({ kind: 'status', status: 429 });
    await failure(openai.classify({ ...request, onUsage: (u) => void usages.push(u) }));
    expect(usages).toEqual([]);
  });
});

describe('OpenAI Batch API', () => {
  it('sends the online request body as JSONL lines and reads answers, refusals and error lines by custom_id', async () => {
    const api = openai.batches;
    const requests = ['a', 'b', 'c'].map((customId) => ({ customId, request }));
    const submitted = await api.submit(requests, { docsift_batch_id: 'x' });
    const [batch] = fake.batches;
    expect(batch).toMatchObject({
      id: submitted.batchId,
      input_file_id: submitted.inputFileId,
      endpoint: '/v1/chat/completions',
      completion_window: '24h',
      metadata: { docsift_batch_id: 'x' },
    });
    // It first looks for an earlier submission of the same batch (none), then uploads and creates.
    expect(fake.batchCalls.slice(0, 3)).toEqual(['GET /v1/batches', 'POST /v1/files', 'POST /v1/batches']);
    expect(await api.retrieve(submitted.batchId)).toMatchObject({ status: 'in_progress', done: false });

    fake.script({ kind: 'default' }, { kind: 'refusal', body: 'No.' }, { kind: 'status', status: 500 });
    fake.completeBatches();
    // The line's body is the online call's, byte for byte.
    const online = await openai.classify(request);
    expect(fake.requests[0]!.body).toEqual(fake.requests.at(-1)!.body);
    const state = await api.retrieve(submitted.batchId);
    expect(state).toMatchObject({ status: 'completed', done: true });
    const answers = new Map((await api.answers(state)).map((a) => [a.customId, a]));
    const a = answers.get('a')!;
    expect(a.ok && a.response.output).toEqual(online.output);
    expect(a.ok && a.response.usage?.inputTokens).toBeGreaterThan(0);
    const b = answers.get('b')!;
    expect(!b.ok && b.error.reason).toBe('The model refused to answer');
    expect(!b.ok && b.usage?.outputTokens).toBeGreaterThan(0);
    const c = answers.get('c')!;
    expect(!c.ok && c.error.reason).toBe('The provider failed (500)');

    // A finished batch cannot be cancelled: the provider's 400 is a ProviderError.
    await expect(api.cancel(submitted.batchId)).rejects.toBeInstanceOf(ProviderError);
  });

  it('answers the batch an earlier submission created when that answer was lost: never two batches', async () => {
    fake.reset();
    const api = openai.batches;
    const requests = [{ customId: 'a', request }];
    fake.loseNextBatchAnswer = true;
    await expect(api.submit(requests, { docsift_batch_id: 'lost' })).rejects.toBeInstanceOf(ProviderError);
    expect(fake.batches).toHaveLength(1);
    const [lost] = fake.batches;
    // Newer batches push it to a later page of the provider's list.
    for (let i = 0; i < 150; i++) fake.batches.push({ ...lost!, id: `batch_other_${i}`, metadata: {} });

    const again = await api.submit(requests, { docsift_batch_id: 'lost' });
    expect(again).toEqual({ batchId: lost!.id, inputFileId: lost!.input_file_id });
    expect(fake.batches).toHaveLength(151);
    expect(fake.batchCalls.filter((c) => c === 'GET /v1/batches')).toHaveLength(3);

    // Another batch id is a new batch.
    const other = await api.submit(requests, { docsift_batch_id: 'other' });
    expect(other.batchId).not.toBe(lost!.id);
    expect(fake.batches).toHaveLength(152);
  });
});
