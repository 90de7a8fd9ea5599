import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { BedrockProvider } from '#lib/ports/llm/bedrock.ts';
import { type LlmRequest, type LlmUsage, ProviderError } from '#lib/ports/llm/provider.ts';
import { rejectionOf } from '#test/support/errors.ts';
import { startFakeLlm } from '#test/support/fake-llm.ts';

const MODEL = 'anthropic.claude-3-5-haiku-20241022-v1:0';
const schema = {
  type: 'object',
  properties: {
    topic: { type: 'string', enum: ['billing', 'support'] },
    confidence: { type: 'number', minimum: 0, maximum: 1 },
    evidence: { type: 'array', items: { type: 'string' } },
  },
  required: ['topic', 'confidence', 'evidence'],
};
const request: LlmRequest = {
  model: MODEL,
  system: 'Classify the ticket.',
  messages: [{ role: 'user', content: 'Ticket:\n<record>My card was charged twice this month.</record>' }],
  jsonSchema: schema,
  schemaName: 'ticket.topic',
  temperature: 0.2,
};

// Credentials come from vitest.config.ts (AWS_ACCESS_KEY_ID=testing); the SDK signs, the fake ignores it.
const fake = await startFakeLlm();
const bedrock = new BedrockProvider({ region: 'us-east-1', endpoint: fake.url });
afterAll(() => fake.close());
beforeEach(() => fake.reset());

/** The ProviderError a call throws. */
const failure = (call: Promise<unknown>) => rejectionOf(call, ProviderError);

describe('BedrockProvider', () => {
  it('forces a tool whose input schema is the JSON Schema and returns its input', async () => {
    const response = await bedrock.classify(request);
    expect(response.output).toEqual({
      topic: 'billing',
      confidence: 0,
      evidence: ['My card was charged twice'],
    });
    expect(JSON.parse(response.raw)).toEqual(response.output);
    expect(response.usage?.inputTokens).toBeGreaterThan(0);

    const [sent] = fake.requests;
    expect(sent?.path).toBe(`/model/${encodeURIComponent(MODEL)}/converse`);
    expect(sent?.model).toBe(MODEL);
    expect(sent?.headers.authorization).toMatch(/^AWS4-HMAC-SHA256 /);
    expect(sent?.body).toMatchObject({
      system: [{ text: 'Classify the ticket.' }],
      messages: [{ role: 'user', content: [{ text: request.messages[0]?.content }] }],
      inferenceConfig: { temperature: 0.2 },
      toolConfig: {
        tools: [{ toolSpec: { name: 'ticket_topic', inputSchema: { json: schema } } }],
        toolChoice: { tool: { name: 'ticket_topic' } },
      },
    });
  });

  it('parses a text answer when the model ignored the tool, and gives null for prose', async () => {
    fake.script(
      { kind: 'text', body: '{"topic":"support","confidence":1,"evidence":[]}' },
      { kind: 'text', body: 'No idea.' },
    );
    expect((await bedrock.classify(request)).output).toEqual({
      topic: 'support',
      confidence: 1,
      evidence: [],
    });
    expect(await bedrock.classify(request)).toMatchObject({ output: null, raw: 'No idea.' });
  });

  it('maps throttling and server faults to retryable errors, Retry-After included', async () => {
    fake.script(
      { kind: 'status', status: 429, retryAfter: 2 },
      { kind: 'status', status: 500 },
      { kind: 'status', status: 503 },
    );
    expect(await failure(bedrock.classify(request))).toMatchObject({
      retryable: true,
      status: 429,
      retryAfterMs: 2000,
      reason: 'Rate limited by the provider (429)',
    });
    expect(await failure(bedrock.classify(request))).toMatchObject({
      retryable: true,
      reason: 'The provider failed (500)',
    });
    expect(await failure(bedrock.classify(request))).toMatchObject({
      retryable: true,
      reason: 'The provider is unavailable (503)',
    });
    expect(fake.requests).toHaveLength(3); // The SDK's own retries are off: the wrapper owns them.
  });

  it('fails validation and credential errors at once', async () => {
    fake.script(
      { kind: 'status', status: 400, message: 'The model does not support toolChoice' },
      { kind: 'status', status: 401 },
    );
    expect(await failure(bedrock.classify(request))).toMatchObject({
      retryable: false,
      reason: 'The provider rejected the request (400)',
      detail: 'The model does not support toolChoice',
    });
    expect(await failure(bedrock.classify(request))).toMatchObject({
      retryable: false,
      reason: 'AWS credentials for Bedrock are missing or were rejected',
    });
  });

  it('honours AWS_ENDPOINT_URL_BEDROCK_RUNTIME without an explicit endpoint', async () => {
    process.env.AWS_ENDPOINT_URL_BEDROCK_RUNTIME = fake.url;
    try {
      const fromEnv = new BedrockProvider({ region: 'us-east-1' });
      expect((await fromEnv.classify(request)).output).toMatchObject({ topic: 'billing' });
    } finally {
      delete process.env.AWS_ENDPOINT_URL_BEDROCK_RUNTIME;
    }
  });

  it('separates a timeout (retryable) from a cancel (final)', async () => {
    fake.script({ kind: 'slow', ms: 1000 }, { kind: 'slow', ms: 1000 });
    const timedOut = await failure(bedrock.classify({ ...request, signal: AbortSignal.timeout(50) }));
    expect(timedOut).toMatchObject({ retryable: true, reason: 'The provider did not answer in time' });
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 50);
    const cancelled = await failure(bedrock.classify({ ...request, signal: controller.signal }));
    expect(cancelled).toMatchObject({ retryable: false, reason: 'The request was cancelled' });
  });
});

describe('BedrockProvider usage', () => {
  it('counts cache reads as input (Converse leaves them out of inputTokens) and reports them as cached', async () => {
    const usages: LlmUsage[] = [];
    const withUsage = { ...request, onUsage: (u: LlmUsage) => void usages.push(u) };
    await bedrock.classify(withUsage);
    await bedrock.classify(withUsage);
    const [first, second] = fake.requests.map((r) => r.usage!);
    expect(second!.cached).toBeGreaterThan(0);
    expect(usages).toEqual([
      { inputTokens: first!.input, cachedInputTokens: 0, outputTokens: first!.output },
      { inputTokens: second!.input, cachedInputTokens: second!.cached, outputTokens: second!.output },
    ]);
  });
});
