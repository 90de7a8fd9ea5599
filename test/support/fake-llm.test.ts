import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { findRecordText, sampleFromSchema, startFakeLlm } from './fake-llm.ts';

const schema = {
  type: 'object',
  properties: {
    label: { type: 'string', enum: ['invoice', 'receipt'] },
    score: { type: 'number', minimum: 0.5, maximum: 1 },
    count: { type: 'integer' },
    note: { anyOf: [{ type: 'string' }, { type: 'null' }] },
    evidence: { type: 'array', items: { type: 'string' } },
    tags: { type: 'array', items: { $ref: '#/$defs/tag' } },
    urgent: { type: 'boolean' },
  },
  required: ['label', 'score', 'count', 'note', 'evidence', 'tags', 'urgent'],
  additionalProperties: false,
  $defs: {
    tag: {
      type: 'object',
      properties: { name: { type: 'string' }, weight: { type: 'integer', minimum: 1 } },
    },
  },
};

describe('sampleFromSchema', () => {
  it('builds a deterministic valid value, quoting the record for evidence', () => {
    expect(sampleFromSchema(schema, { quote: 'Invoice no. 42 from' })).toEqual({
      label: 'invoice',
      score: 0.5,
      count: 0,
      note: 'text',
      evidence: ['Invoice no. 42 from'],
      tags: [{ name: 'text', weight: 1 }],
      urgent: false,
    });
  });

  it('finds the record inside tags, fences and labels', () => {
    expect(findRecordText('Classify this.\n<record id="1">\nThe cat sat.\n</record>')).toContain(
      'The cat sat.',
    );
    expect(findRecordText('Classify:\n```\nThe dog ran.\n```')).toBe('The dog ran.\n');
    expect(findRecordText('Classify it.\nRecord:\nA bird flew.')).toBe('A bird flew.');
    expect(findRecordText('Just text')).toBe('Just text');
    // The shape lib/classify/prompt.ts builds: a title block first, and a numbered tag when needed.
    const prompt =
      'Classify this record.\n\n<record-1-title>\nT\n</record-1-title>\n\n<record-1>\nSee <record>\n</record-1>';
    expect(findRecordText(prompt).trim()).toBe('See <record>');
  });
});

describe('fake LLM server', () => {
  const fakePromise = startFakeLlm();
  afterAll(async () => (await fakePromise).close());
  beforeEach(async () => (await fakePromise).reset());

  const chat = async (record: string) => {
    const fake = await fakePromise;
    const response = await fetch(`${fake.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        model: 'm',
        messages: [{ role: 'user', content: `<record>${record}</record>` }],
        response_format: { type: 'json_schema', json_schema: { name: 's', schema, strict: true } },
      }),
    });
    return { status: response.status, body: (await response.json()) as any };
  };

  it('answers from the schema with evidence quoted verbatim from the record', async () => {
    const { body } = await chat('Invoice no. 42 from ACME Corp, due in March.');
    const answer = JSON.parse(body.choices[0].message.content);
    expect(answer.evidence).toEqual(['Invoice no. 42 from ACME']);
    expect(answer.label).toBe('invoice');
  });

  it('plays scripted behaviours in order, then the default', async () => {
    const fake = await fakePromise;
    fake.script(
      { kind: 'status', status: 429, retryAfter: 2 },
      { kind: 'invalid' },
      { kind: 'text', body: 'nope' },
    );
    expect((await chat('a')).status).toBe(429);
    const invalid = JSON.parse((await chat('a')).body.choices[0].message.content);
    expect(invalid).not.toHaveProperty('label');
    expect(invalid).toHaveProperty('unexpected_field', true);
    expect((await chat('a')).body.choices[0].message.content).toBe('nope');
    expect(JSON.parse((await chat('a')).body.choices[0].message.content).label).toBe('invoice');
    expect(fake.requests).toHaveLength(4);
  });

  it('lists models and counts concurrent requests', async () => {
    const fake = await fakePromise;
    // Long enough for the three to overlap even on a busy machine.
    fake.latencyMs = 300;
    await Promise.all([chat('a'), chat('b'), chat('c')]);
    expect(fake.maxConcurrent).toBe(3);
    expect(fake.inFlight).toBe(0);
    const models = (await (await fetch(`${fake.url}/v1/models`)).json()) as { data: { id: string }[] };
    expect(models.data[0]?.id).toBe('fake-small');
  });
});
