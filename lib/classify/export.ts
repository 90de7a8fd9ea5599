import { stringify } from 'csv-stringify/sync';
import type { ExportRow, ResultOut } from '#lib/services/results.ts';

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
  if (format !== 'csv') {
    yield* jsonItems(rows, format);
    return;
  }
  const columns = csvColumns(schemes);
  yield stringify([csvHeader(columns, includeText)]);
  for await (const row of rows) yield stringify([csvRow(row, columns, includeText)]);
}

/** JSONL: one item per line; JSON: one array, an item per line. */
async function* jsonItems(items: AsyncIterable<unknown>, format: 'json' | 'jsonl'): AsyncGenerator<string> {
  if (format === 'jsonl') {
    for await (const item of items) yield `${JSON.stringify(item)}\n`;
    return;
  }
  let first = true;
  yield '[';
  for await (const item of items) {
    yield `${first ? '' : ','}\n${JSON.stringify(item)}`;
    first = false;
  }
  yield '\n]\n';
}

type FieldColumn = { id: string; field: string; header: string };

/** One `<scheme>.<field>` column per field of each scheme, in scheme order. */
function csvColumns(schemes: SchemeColumns): FieldColumn[] {
  return [...schemes.entries()].flatMap(([id, s]) =>
    s.fields.map((f) => ({ id, field: f, header: csvText(`${s.name}.${f}`) })),
  );
}

function csvHeader(columns: FieldColumn[], includeText: boolean): string[] {
  return [
    'result_id',
    'job_id',
    'record_id',
    'datasource_id',
    'scheme_id',
    'record_title',
    ...(includeText ? ['text_content'] : []),
    ...columns.map((c) => c.header),
    'justifications',
  ];
}

function csvRow(row: ExportRow, columns: FieldColumn[], includeText: boolean): string[] {
  return [
    row.id,
    row.job_id,
    row.record_id,
    row.datasource_id,
    row.scheme_id,
    csvText(row.record_title ?? ''),
    ...(includeText ? [csvText(row.text_content ?? '')] : []),
    ...columns.map((c) => (c.id === row.scheme_id ? cell(row.value[c.field]) : '')),
    Object.keys(row.justifications).length > 0 ? JSON.stringify(row.justifications) : '',
  ];
}

/** A dataset member as exported: the record, and its results for the dataset's schemes. */
export type MemberExport = {
  record_id: string;
  datasource_id: string;
  title: string | null;
  text_content?: string;
  source_metadata: Record<string, unknown>;
  event_timestamp: string | null;
  content_hash: string;
  added_at: string;
  results: ResultOut[];
};

/**
 * Serialises a dataset's members in a job export's formats. JSONL is one member (record with
 * its `results`) per line, JSON one array of them. CSV keeps a job export's columns, one row
 * per result, so the same sheet reads both; a member without results gets one row whose
 * result cells are empty. Text cells are escaped against formula injection ({@link csvText}).
 */
export async function* exportMembers(
  members: AsyncIterable<MemberExport>,
  format: ExportFormat,
  schemes: SchemeColumns,
  includeText: boolean,
): AsyncGenerator<string> {
  if (format !== 'csv') {
    yield* jsonItems(members, format);
    return;
  }
  const columns = csvColumns(schemes);
  yield stringify([csvHeader(columns, includeText)]);
  for await (const m of members) {
    const rows: ExportRow[] =
      m.results.length > 0
        ? m.results.map((r) => ({ ...r, record_title: m.title, text_content: m.text_content ?? '' }))
        : [
            {
              id: '',
              job_id: '',
              record_id: m.record_id,
              datasource_id: m.datasource_id,
              scheme_id: '',
              value: {},
              justifications: {},
              provider: '',
              model: '',
              created_at: '',
              record_title: m.title,
              text_content: m.text_content ?? '',
            },
          ];
    yield stringify(rows.map((r) => csvRow(r, columns, includeText)));
  }
}
