import { randomBytes } from 'node:crypto';
import { CreateSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { afterAll, beforeEach, describe, expect, inject, it } from 'vitest';
import { LlmConfigError, providersFromEnv } from '#lib/ports/llm/index.ts';
import type { LlmRequest } from '#lib/ports/llm/provider.ts';
import { startFakeLlm } from '#test/support/fake-llm.ts';

const fake = await startFakeLlm();
afterAll(() => fake.close());
beforeEach(() => fake.reset());

const request: LlmRequest = {
  model: 'm',
  system: 'Classify.',
  messages: [{ role: 'user', content: 'hello' }],
  jsonSchema: { type: 'object', properties: { ok: { type: 'boolean' } }, required: ['ok'] },
  schemaName: 'ok',
};

describe('providersFromEnv', () => {
  it('configures nothing from an empty environment', () => {
    const llm = providersFromEnv({});
    expect(llm.list()).toEqual([]);
    expect(llm.defaultProvider).toBeUndefined();
    expect(() => llm.get('openai')).toThrow('The LLM provider "openai" is not configured');
  });

  it('lists providers and models, never a key or URL', () => {
    const llm = providersFromEnv({
      OPENAI_API_KEY: 'sk-never-listed-123456',
      OPENAI_BASE_URL: 'http://127.0.0.1:9/v1',
      OPENAI_MODELS: 'gpt-4o-mini, gpt-4o,gpt-4o-mini',
      BEDROCK_MODELS: 'anthropic.claude-3-5-haiku-20241022-v1:0',
      AWS_REGION: 'eu-west-1',
    });
    expect(llm.list()).toEqual([
      { name: 'openai', models: ['gpt-4o-mini', 'gpt-4o'], default: true },
      { name: 'bedrock', models: ['anthropic.claude-3-5-haiku-20241022-v1:0'], default: false },
    ]);
    expect(llm.defaultModel).toBe('gpt-4o-mini');
    expect(JSON.stringify(llm.list())).not.toMatch(/sk-|127\.0\.0\.1/);
    expect(llm.get('bedrock').name).toBe('bedrock');
  });

  it('gives bedrock a batch API only with a service role and an S3 location, both or neither', () => {
    const bedrock = { BEDROCK_MODELS: 'amazon.nova-micro-v1:0' };
    expect(providersFromEnv(bedrock).get('bedrock').batches).toBeUndefined();
    const batch = providersFromEnv({
      ...bedrock,
      BEDROCK_BATCH_ROLE_ARN: 'arn:aws:iam::123456789012:role/batch',
      BEDROCK_BATCH_S3_URI: 's3://docsift-uploads/bedrock-batch/',
    });
    // Built without loading the Bedrock or S3 client: those come with the first call.
    expect(batch.get('bedrock').batches?.minRequests).toBe(100);
    expect(() => providersFromEnv({ ...bedrock, BEDROCK_BATCH_ROLE_ARN: 'arn:aws:iam::1:role/b' })).toThrow(
      /both BEDROCK_BATCH_ROLE_ARN and BEDROCK_BATCH_S3_URI/,
    );
    expect(() =>
      providersFromEnv({
        ...bedrock,
        BEDROCK_BATCH_ROLE_ARN: 'arn:aws:iam::1:role/b',
        BEDROCK_BATCH_S3_URI: 'docsift/x',
      }),
    ).toThrow(/BEDROCK_BATCH_S3_URI/);
  });

  it('picks defaults: the explicit ones, else the first enabled provider and its first model', () => {
    const bedrockOnly = providersFromEnv({ BEDROCK_MODELS: 'amazon.nova-lite-v1:0,amazon.nova-pro-v1:0' });
    expect(bedrockOnly.defaultProvider).toBe('bedrock');
    expect(bedrockOnly.defaultModel).toBe('amazon.nova-lite-v1:0');

    const explicit = providersFromEnv({
      OPENAI_BASE_URL: 'http://localhost:11434/v1',
      OPENAI_MODELS: 'llama3.2',
      CLASSIFIER_DEFAULT_MODEL: 'qwen2.5:7b',
    });
    expect(explicit.list()).toEqual([{ name: 'openai', models: ['qwen2.5:7b', 'llama3.2'], default: true }]);
  });

  it('rejects a default provider that is not configured, and bad numbers', () => {
    expect(() => providersFromEnv({ OPENAI_API_KEY: 'k', CLASSIFIER_DEFAULT_PROVIDER: 'bedrock' })).toThrow(
      LlmConfigError,
    );
    expect(() => providersFromEnv({ OPENAI_API_KEY: 'k', LLM_CONCURRENCY: '0' })).toThrow(/LLM_CONCURRENCY/);
    expect(() => providersFromEnv({ OPENAI_BASE_URL: 'localhost:11434' })).toThrow(/OPENAI_BASE_URL/);
  });

  it('wraps providers with the configured resilience', async () => {
    fake.script({ kind: 'status', status: 500 }, { kind: 'status', status: 500 });
    const llm = providersFromEnv({ OPENAI_BASE_URL: `${fake.url}/v1`, LLM_MAX_ATTEMPTS: '2' });
    await expect(llm.get('openai').classify(request)).rejects.toThrow(
      'The provider failed (500) after 2 attempts',
    );
    expect(fake.requests[0]?.headers.authorization).toBeUndefined();
  });

  it('reads the key from Secrets Manager when first used, not at start', async () => {
    process.env.AWS_ENDPOINT_URL = inject('motoEndpoint');
    const missing = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:docsift-missing-AbCdEf';
    const broken = providersFromEnv({ OPENAI_API_KEY_SECRET_ARN: missing, LLM_MAX_ATTEMPTS: '1' });
    await expect(broken.get('openai').classify(request)).rejects.toThrow(
      'Could not read the provider API key',
    );
    expect(fake.requests).toHaveLength(0);

    const secrets = new SecretsManagerClient({});
    const name = `docsift-openai-${randomBytes(4).toString('hex')}`;
    const { ARN } = await secrets.send(
      new CreateSecretCommand({ Name: name, SecretString: 'sk-from-secrets-manager' }),
    );

    const llm = providersFromEnv({ OPENAI_API_KEY_SECRET_ARN: ARN, OPENAI_BASE_URL: `${fake.url}/v1` });
    await llm.get('openai').classify(request);
    await llm.get('openai').classify(request);
    expect(fake.requests.map((r) => r.headers.authorization)).toEqual([
      'Bearer sk-from-secrets-manager',
      'Bearer sk-from-secrets-manager',
    ]);
  });
});
