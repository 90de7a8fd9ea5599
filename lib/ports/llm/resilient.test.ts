import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { type MetricPoint, onMetric } from '#lib/observability/metrics.ts';
import { OpenAiProvider } from '#lib/ports/llm/openai.ts';
import { type LlmProvider, type LlmRequest, type LlmUsage, ProviderError } from '#lib/ports/llm/provider.ts';
import { type ResilienceOptions, withResilience } from '#lib/ports/llm/resilient.ts';
import { rejectionOf } from '#test/support/errors.ts';
import { startFakeLlm } from '#test/support/fake-llm.ts';

const KEY = 'sk-resilient-test-key-0123456789';
const request: LlmRequest = {
  model: 'gpt-4o-mini',
  system: 'Classify.',
  messages: [{ role: 'user', content: '<record>Quarterly report for the board</record>' }],
  jsonSchema: {
    type: 'object',
    properties: { kind: { type: 'string', enum: ['report', 'memo'] } },
    required: ['kind'],
    additionalProperties: false,
  },
  schemaName: 'kind',
};

const fake = await startFakeLlm();
const adapter = new OpenAiProvider({ baseUrl: `${fake.url}/v1`, apiKey: KEY, timeoutMs: 5000 });
afterAll(() => fake.close());
beforeEach(() => fake.reset());

/** A wrapper whose backoffs are recorded instead of slept, with the jitter at its ceiling. */
function wrapped(options: ResilienceOptions = {}) {
  const delays: number[] = [];
  const provider = withResilience(adapter, {
    sleep: async (ms) => void delays.push(ms),
    random: () => 1,
    ...options,
  });
  return { provider, delays };
}

/** The ProviderError a call throws. */
const failure = (call: Promise<unknown>) => rejectionOf(call, ProviderError);

describe('withResilience', () => {
  it('passes answers through, including ones that are not JSON (not its business)', async () => {
    const { provider } = wrapped();
    expect((await provider.classify(request)).output).toEqual({ kind: 'report' });
    fake.script({ kind: 'text', body: 'report, I think' });
    expect(await provider.classify(request)).toMatchObject({ output: null, raw: 'report, I think' });
    expect(fake.requests).toHaveLength(2);
    expect(provider.name).toBe('openai');
  });

  it('sends nothing for a call cancelled while it waited for a slot, or no longer wanted', async () => {
    const { provider } = wrapped({ concurrency: 1 });
    fake.latencyMs = 300;
    const controller = new AbortController();
    const first = provider.classify(request);
    const queued = provider.classify({ ...request, signal: controller.signal });
    controller.abort();
    expect((await failure(queued)).reason).toBe('The request was cancelled');
    await first;
    const unwanted = await failure(provider.classify({ ...request, stillWanted: async () => false }));
    expect(unwanted.reason).toBe('The request was cancelled');
    expect(fake.requests).toHaveLength(1);
  });

  it('asks before each retry whether the call is still wanted', async () => {
    fake.script(
      { kind: 'status', status: 429, retryAfter: 0 },
      { kind: 'status', status: 429, retryAfter: 0 },
    );
    let asked = 0;
    const { provider } = wrapped();
    const error = await failure(provider.classify({ ...request, stillWanted: async () => ++asked < 2 }));
    expect(error.reason).toBe('The request was cancelled');
    expect(fake.requests).toHaveLength(1);
  });

  it('honours Retry-After in real time', async () => {
    fake.script({ kind: 'status', status: 429, retryAfter: 1 });
    const provider = withResilience(adapter, { baseDelayMs: 1 });
    const started = performance.now();
    expect((await provider.classify(request)).output).toEqual({ kind: 'report' });
    expect(performance.now() - started).toBeGreaterThanOrEqual(950);
    expect(fake.requests).toHaveLength(2);
  });

  it('never waits past maxDelayMs, whatever Retry-After asks', async () => {
    fake.script(
      { kind: 'status', status: 503, retryAfter: 3 },
      { kind: 'status', status: 429, retryAfter: 600 },
    );
    const { provider, delays } = wrapped({ maxDelayMs: 10_000 });
    await provider.classify(request);
    expect(delays).toEqual([3000, 10_000]);
  });

  it('survives a burst of 429s with exponential backoff', async () => {
    fake.script(...Array.from({ length: 4 }, () => ({ kind: 'status', status: 429 }) as const));
    const { provider, delays } = wrapped();
    expect((await provider.classify(request)).output).toEqual({ kind: 'report' });
    expect(delays).toEqual([500, 1000, 2000, 4000]);
    expect(fake.requests).toHaveLength(5);
  });

  it('draws full jitter between 0 and the ceiling', async () => {
    fake.script({ kind: 'status', status: 500 }, { kind: 'status', status: 500 });
    const { provider, delays } = wrapped({ random: () => 0.25, baseDelayMs: 1000 });
    await provider.classify(request);
    expect(delays).toEqual([250, 500]);
  });

  it('gives up after maxAttempts with the last reason', async () => {
    fake.script(...Array.from({ length: 5 }, () => ({ kind: 'status', status: 500 }) as const));
    const { provider } = wrapped();
    const error = await failure(provider.classify(request));
    expect(error.reason).toBe('The provider failed (500) after 5 attempts');
    expect(error).toMatchObject({ status: 500, retryable: true });
    expect(fake.requests).toHaveLength(5);

    fake.script({ kind: 'status', status: 429 }, { kind: 'status', status: 429 });
    const short = wrapped({ maxAttempts: 2 }).provider;
    expect((await failure(short.classify(request))).reason).toBe(
      'Rate limited by the provider (429) after 2 attempts',
    );
  });

  it('fails a 401 at once, never showing the key', async () => {
    fake.script({ kind: 'status', status: 401 });
    const { provider, delays } = wrapped();
    const error = await failure(provider.classify(request));
    expect(error).toMatchObject({ retryable: false, reason: 'The provider refused the API key' });
    expect(`${error.message} ${error.stack}`).not.toContain(KEY);
    expect(fake.requests).toHaveLength(1);
    expect(fake.requests[0]?.headers.authorization).toBe(`Bearer ${KEY}`);
    expect(delays).toEqual([]);
  });

  it('fails a 400 at once', async () => {
    fake.script({ kind: 'status', status: 400, message: 'Unknown model' });
    const error = await failure(wrapped().provider.classify(request));
    expect(error.reason).toBe('The provider rejected the request (400)');
    expect(fake.requests).toHaveLength(1);
  });

  // 400 ms, not less: a loaded CI machine may take over 100 ms to answer even the fast attempt.
  it('times out slow attempts and retries them', async () => {
    fake.script({ kind: 'slow', ms: 3000 });
    const { provider } = wrapped({ timeoutMs: 400 });
    expect((await provider.classify(request)).output).toEqual({ kind: 'report' });
    expect(fake.requests).toHaveLength(2);

    fake.script({ kind: 'slow', ms: 3000 }, { kind: 'slow', ms: 3000 });
    const error = await failure(wrapped({ timeoutMs: 400, maxAttempts: 2 }).provider.classify(request));
    expect(error.reason).toBe('The provider did not answer within 400 ms after 2 attempts');
  });

  it('times out an adapter that ignores its signal', async () => {
    const stuck: LlmProvider = { name: 'stuck', classify: () => new Promise(() => {}) };
    const provider = withResilience(stuck, { timeoutMs: 30, maxAttempts: 2, sleep: async () => {} });
    expect((await failure(provider.classify(request))).reason).toBe(
      'The provider did not answer within 30 ms after 2 attempts',
    );
  });

  it('stops retrying when the caller cancels during a backoff', async () => {
    fake.script({ kind: 'status', status: 429, retryAfter: 10 });
    const provider = withResilience(adapter);
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 50);
    const started = performance.now();
    const error = await failure(provider.classify({ ...request, signal: controller.signal }));
    expect(error).toMatchObject({ retryable: false, reason: 'The request was cancelled' });
    expect(performance.now() - started).toBeLessThan(1000);
    expect(fake.requests).toHaveLength(1);
  });

  it('caps concurrent calls under 20 parallel ones', async () => {
    fake.latencyMs = 20;
    const { provider } = wrapped({ concurrency: 3 });
    const results = await Promise.all(Array.from({ length: 20 }, () => provider.classify(request)));
    expect(results).toHaveLength(20);
    expect(fake.requests).toHaveLength(20);
    expect(fake.maxConcurrent).toBe(3);
  });

  it('holds the slot through backoffs, so retries count against the cap', async () => {
    fake.latencyMs = 10;
    fake.script(...Array.from({ length: 6 }, () => ({ kind: 'status', status: 503 }) as const));
    const provider = withResilience(adapter, { concurrency: 2, baseDelayMs: 5 });
    await Promise.all(Array.from({ length: 8 }, () => provider.classify(request)));
    expect(fake.maxConcurrent).toBeLessThanOrEqual(2);
    expect(fake.requests).toHaveLength(14);
  });
});

describe('withResilience usage', () => {
  it('reports each billed attempt of a retried call, and none of the refused ones', async () => {
    const { provider } = wrapped();
    const usages: LlmUsage[] = [];
    // 429 (not billed), a billed answer without a message (retried), then an answer.
    fake.script({ kind: 'status', status: 429, retryAfter: 0 }, { kind: 'empty' });
    await provider.classify({ ...request, onUsage: (u) => void usages.push(u) });
    expect(fake.requests).toHaveLength(3);
    expect(usages).toHaveLength(2);
    expect(usages.map((u) => u.inputTokens)).toEqual(fake.requests.slice(1).map((r) => r.usage!.input));
  });
});

describe('withResilience metrics', () => {
  it('counts calls, failures, 429s, retries, latency and tokens by provider and model', async () => {
    const seen: MetricPoint[] = [];
    const stop = onMetric((p) => void seen.push(p));
    try {
      const { provider } = wrapped({ maxAttempts: 2 });
      // A 429 then an answer; then two 500s (a failure); then a cancel (neither).
      fake.script({ kind: 'status', status: 429, retryAfter: 0 });
      await provider.classify(request);
      fake.script({ kind: 'status', status: 500 }, { kind: 'status', status: 500 });
      await failure(provider.classify(request));
      await failure(provider.classify({ ...request, stillWanted: async () => false }));
    } finally {
      stop();
    }
    const total = (name: string) => seen.filter((p) => p.name === name).reduce((sum, p) => sum + p.value, 0);
    expect(
      seen.every((p) => p.dimensions.provider === 'openai' && p.dimensions.model === 'gpt-4o-mini'),
    ).toBe(true);
    expect([total('ProviderCalls'), total('ProviderFailures')]).toEqual([2, 1]);
    expect([total('ProviderThrottles'), total('ProviderRetries')]).toEqual([1, 2]);
    expect(seen.filter((p) => p.name === 'ProviderLatency')).toHaveLength(4);
    expect(total('InputTokens')).toBe(fake.requests.at(1)!.usage!.input);
    expect(total('OutputTokens')).toBeGreaterThan(0);
  });
});
