import { describe, expect, it } from 'vitest';
import { loadConfig } from '#lib/config.ts';
import { formatSummary, runtimeSummary } from './startup.ts';

describe('the start-up summary', () => {
  it('says where the API, docs, database, queues and models are, locally', () => {
    const summary = runtimeSummary(loadConfig({}), {
      url: 'http://127.0.0.1:8000',
      listen: '127.0.0.1:8000',
      embeddedDir: '/srv/docsift/.data/postgres',
      env: {
        OPENAI_BASE_URL: 'http://localhost:11434/v1',
        OPENAI_MODELS: 'llama3.2,qwen3',
        OPENAI_API_KEY: 'sk-secret',
      },
    });
    const text = formatSummary(summary);
    expect(text).toContain('http://127.0.0.1:8000/docs');
    expect(summary.platform).toBe('local');
    expect(summary.aws).toMatch(/not used/);
    expect(summary.database).toBe('embedded PostgreSQL at /srv/docsift/.data/postgres');
    expect(summary.queues).toMatch(/pg-boss.*docsift-ingest, docsift-classify, docsift-tasks/);
    expect(summary.llm).toBe('openai at http://localhost:11434/v1: llama3.2, qwen3 (default)');
    expect(text).not.toContain('sk-secret');
  });

  it('names an external database and AWS endpoint without their credentials', () => {
    const config = loadConfig({
      PLATFORM: 'aws',
      DATABASE_URL: 'postgres://docsift:hunter2-password@db.internal:5433/docsift',
    });
    const summary = runtimeSummary(config, {
      url: 'http://127.0.0.1:8000',
      listen: '0.0.0.0:8000',
      env: {
        AWS_ENDPOINT_URL: 'http://user:pass@127.0.0.1:4566',
        AWS_REGION: 'eu-central-1',
        BEDROCK_MODELS: 'anthropic.claude-3-haiku',
        OPENAI_BASE_URL: 'https://key:secret@llm.example.com/v1',
      },
    });
    expect(summary.database).toBe('external PostgreSQL at db.internal:5433/docsift');
    expect(summary.aws).toBe('http://127.0.0.1:4566 (eu-central-1)');
    expect(summary.queues).toMatch(/^SQS: /);
    expect(summary.llm).toBe(
      'openai at https://llm.example.com/v1: gpt-4o-mini (default); bedrock in eu-central-1: anthropic.claude-3-haiku',
    );
    expect(JSON.stringify(summary)).not.toMatch(/hunter2|pass|secret/);
  });

  it('says what is wrong with the LLM settings rather than failing', () => {
    const summary = runtimeSummary(loadConfig({}), {
      url: 'http://127.0.0.1:8000',
      listen: '127.0.0.1:8000',
      env: { OPENAI_BASE_URL: 'not a url' },
    });
    expect(summary.llm).toMatch(/^invalid: .*OPENAI_BASE_URL/);
    expect(runtimeSummary(loadConfig({}), { url: 'u', listen: 'l', env: {} }).llm).toMatch(/none configured/);
  });
});
