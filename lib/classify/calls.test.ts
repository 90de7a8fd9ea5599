import { describe, expect, it } from 'vitest';
import {
  callSchema,
  callSystem,
  checkAnswer,
  defaultSchemes,
  MAX_FIELDS_PER_CALL,
  modelOutputSchema,
  planCalls,
  recordPrompt,
  repairCall,
  SchemeDefinition,
  schemeKeys,
  withinLimits,
} from '#lib/classify/index.ts';
import { itemMessages } from '#lib/classify/messages.ts';

const scheme = (name: string, fields: Record<string, unknown>[]) =>
  SchemeDefinition.parse({ name, description: `About ${name}`, fields });
const topics = scheme('Topics', [
  {
    name: 'topics',
    description: 'Policy areas',
    type: 'List[str]',
    is_set_of_labels: true,
    labels: ['Economy', 'Health'],
    request_justification: true,
  },
]);
const tone = scheme('Tone', [
  { name: 'intensity', description: '1..5', type: 'int', scale_min: 1, scale_max: 5 },
  { name: 'summary', description: 'One sentence', type: 'str' },
]);
const calm = scheme('Calm', [{ name: 'calm', description: 'Is it calm?', type: 'bool' }]);

/** A scheme of `n` bool fields. */
const wide = (name: string, n: number) =>
  scheme(
    name,
    Array.from({ length: n }, (_, i) => ({ name: `f${i}`, description: '', type: 'bool' })),
  );
/** A scheme of three label fields of 200 labels each: 600 enum values. */
const labelled = (name: string) =>
  scheme(
    name,
    [0, 1, 2].map((f) => ({
      name: `l${f}`,
      description: '',
      type: 'str',
      is_set_of_labels: true,
      labels: Array.from({ length: 200 }, (_, i) => `label ${f}-${i}`),
    })),
  );

describe('planCalls', () => {
  it('puts a record’s schemes in one call, keyed by their names, or one call each', () => {
    const [call, ...rest] = planCalls([topics, tone, calm], true);
    expect(rest).toEqual([]);
    expect(call!.keys).toEqual(['Topics', 'Tone', 'Calm']);
    expect(planCalls([topics, tone, calm], false)).toEqual([
      { schemes: [topics] },
      { schemes: [tone] },
      { schemes: [calm] },
    ]);
    // One scheme is asked as it always was: its own answer, no key.
    expect(planCalls([tone], true)).toEqual([{ schemes: [tone] }]);
  });

  it('splits where a call would pass the fields of one scheme or the providers’ schema limits', () => {
    const byFields = planCalls([wide('A', 30), wide('B', 30), calm], true);
    expect(byFields.map((c) => c.schemes.map((s) => s.name))).toEqual([['A'], ['B', 'Calm']]);
    expect(
      byFields.every((c) => c.schemes.reduce((n, s) => n + s.fields.length, 0) <= MAX_FIELDS_PER_CALL),
    ).toBe(true);
    // 600 enum values each: two would pass the 1,000 a strict schema may hold.
    const byEnums = planCalls([labelled('A'), labelled('B'), calm], true);
    expect(byEnums.map((c) => c.schemes.map((s) => s.name))).toEqual([['A'], ['B', 'Calm']]);
    expect(withinLimits(callSchema(byEnums[0]!))).toBe(true);
    expect(withinLimits(callSchema({ schemes: [labelled('A'), labelled('B')], keys: ['A', 'B'] }))).toBe(
      false,
    );
  });

  it('keeps every default scheme in one strict schema: each under its key, closed and required', () => {
    const schemes = defaultSchemes();
    const [call] = planCalls(schemes, true);
    const schema = callSchema(call!);
    expect(schema).toEqual({
      type: 'object',
      properties: Object.fromEntries(schemes.map((s) => [s.name, modelOutputSchema(s.fields)])),
      required: schemes.map((s) => s.name),
      additionalProperties: false,
    });
    expect(withinLimits(schema)).toBe(true);
  });
});

describe('schemeKeys', () => {
  it('uses the names when each is a plain, distinct key, else numbers them all', () => {
    expect(schemeKeys(['Topics', ' Tone '])).toEqual(['Topics', 'Tone']);
    expect(schemeKeys(['Tone', 'tone'])).toEqual(['scheme_1', 'scheme_2']);
    expect(schemeKeys(['Tone', 'Ton/e'])).toEqual(['scheme_1', 'scheme_2']);
  });
});

describe('callSystem', () => {
  it('holds the rules, then each scheme under its key, and never the record', () => {
    const [call] = planCalls([topics, tone], true);
    const system = callSystem(call!);
    expect(system).toMatch(/^You classify one text record with 2 classification schemes at once/);
    expect(system.indexOf('Rules:')).toBeLessThan(
      system.indexOf('Scheme "Topics", answered under the key "Topics"'),
    );
    expect(system.indexOf('"Topics"')).toBeLessThan(system.indexOf('Scheme "Tone"'));
    expect(system).toContain('About Tone');
    expect(system).toContain('copied verbatim');
    expect(system).not.toContain('<record>');
    expect(recordPrompt('The text', 'A title')).toMatch(/<record>\nThe text\n<\/record>$/);
  });
});

describe('checkAnswer and repairCall', () => {
  const [call] = planCalls([topics, tone, calm], true);
  const good = {
    Topics: {
      values: { topics: ['economy'] },
      justifications: { topics: { reasoning: 'Budget.', evidence: ['budget'] } },
    },
    Tone: { values: { intensity: 2, summary: 'Calm.' } },
    Calm: { values: { calm: true } },
  };

  it('validates each scheme’s part alone', () => {
    const results = checkAnswer(call!, good);
    expect(results.map((r) => r.ok)).toEqual([true, true, true]);
    expect(results[0]).toMatchObject({ ok: true, value: { values: { topics: ['Economy'] } } });
  });

  it('fails only the schemes whose part is wrong or missing, with paths inside the scheme', () => {
    const { Calm: _, ...withoutCalm } = good;
    const answer = { ...withoutCalm, Tone: { values: { intensity: 9, summary: 'x' } }, extra: 1 };
    const results = checkAnswer(call!, answer);
    expect(results.map((r) => r.ok)).toEqual([true, false, false]);
    expect(results[1]).toMatchObject({ ok: false, paths: ['values.intensity'] });
    expect(results[2]).toMatchObject({ ok: false, paths: ['(no answer for the scheme)'] });
    expect(checkAnswer(call!, 'not json').every((r) => !r.ok)).toBe(true);

    const repair = repairCall(call!, results);
    // Asked again: those two only, under the same keys, in a schema of theirs.
    expect(repair.call.keys).toEqual(['Tone', 'Calm']);
    expect(repair.call.schemes).toEqual([tone, calm]);
    expect(Object.keys(callSchema(repair.call).properties!)).toEqual(['Tone', 'Calm']);
    expect(repair.prompt).toContain('- "Tone": values.intensity must be between 1 and 5 (got 9).');
    expect(repair.prompt).toContain('- "Calm": The answer for this scheme is missing.');
    expect(repair.prompt).toMatch(/only the keys "Tone", "Calm"/);
    expect(repair.prompt).not.toContain('"Topics"');
  });

  it('repairs a call of one scheme as before: its own answer, its errors', () => {
    const single = { schemes: [tone] };
    const results = checkAnswer(single, { values: { intensity: 2 } });
    expect(results).toMatchObject([{ ok: false, paths: ['values.summary'] }]);
    const repair = repairCall(single, results);
    expect(repair.call).toBe(single);
    expect(repair.prompt).toMatch(
      /^Your answer does not match the required format:\n- values.summary is missing./,
    );
  });
});

describe('itemMessages', () => {
  it('packs about `size` items a message and never splits a record’s items', () => {
    const items = ['r1', 'r2', 'r3'].flatMap((record_id) =>
      ['s1', 's2', 's3'].map((scheme_id) => ({ record_id, scheme_id })),
    );
    const messages = itemMessages('job', items, 5);
    expect(messages.map((m) => m.items.map((i) => i.record_id))).toEqual([
      ['r1', 'r1', 'r1', 'r2', 'r2', 'r2'],
      ['r3', 'r3', 'r3'],
    ]);
    expect(itemMessages('job', items.slice(0, 1), 5)).toEqual([
      { kind: 'classify_items', job_id: 'job', items: [{ record_id: 'r1', scheme_id: 's1' }] },
    ]);
  });
});
