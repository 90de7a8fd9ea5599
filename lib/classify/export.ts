import { stringify } from 'csv-stringify/sync';
import type { ExportRow } from '#lib/services/results.ts';

export type ExportFormat = 'csv' | 'jsonl' | 'json';

/**
 * Where exports too large to answer inline are stored for download: outside `workspaces/`, so
 * they start no ingestion, and expired by the bucket after a day.
 */
export const EXPORTS_PREFIX = 'exports/';

export const EXPORT_CONTENT_TYPES: Record<ExportFormat, string> = {
  csv: 'text/csv; charset=utf-8',
  jsonl: 'application/x-ndjson',
  json: 'application/json',
};

type SchemeColumns = Map<string, { name: string; fields: string[] }>;

/** What a spreadsheet reads as the start of a formula (OWASP's CSV injection list). */
const FORMULA_START = /^[=+\-@\t\r]/;

/**
 * Text for a CSV cell that no spreadsheet runs as a formula: text starting with `=`, `+`, `-`,
 * `@`, a tab or a carriage return gets a leading `'`, as OWASP recommends. A model's answer
 * or a record's title is not ours to trust, and `=HYPERLINK(…)` in a cell can leak the sheet.
 *
 * @example csvText('=1+1') // "'=1+1"
 */
export function csvText(text: string): string {
  return FORMULA_START.test(text) ? `'${text}` : text;
}

/** A value as one CSV cell: lists of labels joined, lists of objects as JSON; numbers as they are. */
function cell(value: unknown): string {
  if (value === null || value === undefined) return '';
  // A negative number is data, not a formula: escaping it would turn it into text.
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (Array.isArray(value)) {
    return csvText(value.every((v) => typeof v !== 'object') ? value.join('; ') : JSON.stringify(value));
  }
  return csvText(typeof value === 'object' ? JSON.stringify(value) : String(value));
}

/**
 * Serialises a job's results: CSV flattens each scheme's fields into `<scheme>.<field>`
 * columns, every text cell escaped against formula injection ({@link csvText}); JSONL is one
 * result per line; JSON one array. Chunks are produced as rows come, so callers can stream them.
 */
export async function* exportResults(
  rows: AsyncIterable<ExportRow>,
  format: ExportFormat,
  schemes: SchemeColumns,
  includeText: boolean,
): AsyncGenerator<string> {
  if (format === 'jsonl') {
    for await (const row of rows) yield `${JSON.stringify(row)}\n`;
    return;
  }
  if (format === 'json') {
    let first = true;
    yield '[';
    for await (const row of rows) {
      yield `${first ? '' : ','}\n${JSON.stringify(row)}`;
      first = false;
    }
    yield '\n]\n';
    return;
  }
  const fieldColumns = [...schemes.entries()].flatMap(([id, s]) =>
    s.fields.map((f) => ({ id, field: f, header: csvText(`${s.name}.${f}`) })),
  );
  const header = [
    'result_id',
    'job_id',
    'record_id',
    'datasource_id',
    'scheme_id',
    'record_title',
    ...(includeText ? ['text_content'] : []),
    ...fieldColumns.map((c) => c.header),
    'justifications',
  ];
  yield stringify([header]);
  for await (const row of rows) {
    const values = fieldColumns.map((c) => (c.id === row.scheme_id ? cell(row.value[c.field]) : ''));
    yield stringify([
      [
        row.id,
        row.job_id,
        row.record_id,
        row.datasource_id,
        row.scheme_id,
        csvText(row.record_title ?? ''),
        ...(includeText ? [csvText(row.text_content ?? '')] : []),
        ...values,
        Object.keys(row.justifications).length > 0 ? JSON.stringify(row.justifications) : '',
      ],
    ]);
  }
}
