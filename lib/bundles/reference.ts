import type { SkippedRows } from '#lib/db/schema.ts';
import { BundleError } from './errors.ts';
import type { EntryKind } from './format.ts';

/** A bundle's content as rows in memory: what a reference export turns into. */
export type RowEntries = { type: string; entries: { kind: EntryKind; path: string; rows: unknown[] }[] };

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const list = (v: unknown): Obj[] => (Array.isArray(v) ? v.filter(isObj) : []);

/** The reference system's datasource types, as docsift's (a bulk PDF is one PDF source here). */
const TYPES: Record<string, string> = {
  text_block: 'text_block',
  url: 'url',
  url_list: 'url_list',
  csv: 'csv',
  pdf: 'pdf',
  bulk_pdf: 'pdf',
};

function scheme(s: Obj, id: string) {
  return {
    id,
    name: s.name,
    description: s.description ?? '',
    model_instructions: s.model_instructions ?? null,
    // Unused field options (null, false, []) are left out by the scheme's own schema.
    fields: list(s.fields),
  };
}

function datasource(d: Obj, id: string) {
  const type = TYPES[String(d.type)];
  if (!type)
    throw new BundleError(
      `Reference datasource ${JSON.stringify(d.name)} has an unknown type ${JSON.stringify(d.type)}`,
    );
  return {
    id,
    name: d.name,
    type,
    // Imported sources keep what they were made from, for reading; a reprocess needs a new upload.
    options: isObj(d.origin_details) ? d.origin_details : {},
    status: 'complete',
    error_message: null,
    metadata: {
      imported_from: 'reference',
      ...(d.description ? { description: d.description } : {}),
      ...(isObj(d.source_metadata) ? { source_metadata: d.source_metadata } : {}),
    },
    file: null,
  };
}

function records(rows: Obj[]) {
  return rows.map((r, i) => {
    const meta = isObj(r.source_metadata) ? r.source_metadata : {};
    return {
      id: String(i),
      // The reference keyed records by URL hash where it had one; position otherwise.
      source_key: typeof r.url_hash === 'string' && r.url_hash ? r.url_hash : `reference:${i}`,
      title: typeof meta.title === 'string' ? meta.title : null,
      text_content: r.text_content ?? '',
      source_metadata: meta,
      event_timestamp: r.event_timestamp ?? null,
      appended: false,
    };
  });
}

const skip = (kind: string, count: number, reason: string): SkippedRows[] =>
  count > 0 ? [{ kind, count, reason }] : [];

const JOBS_SKIPPED = 'their configurations name the old instance’s scheme and datasource ids';

/**
 * The reference's dataset export (no `meta`, `datarecords`): its records go into one new text
 * source named after it, its `source_schemes` come along (reused by content as always), and
 * the records' `classification_results` become one job's results. A result's `scheme_id` is
 * the old instance's: it resolves through a source scheme's `id` where the file gives one,
 * else to the only source scheme when every result names one same scheme; the rest are
 * skipped with the reason. `source_jobs` are skipped: their configurations name old ids.
 */
function fromReferenceDataset(doc: Obj): RowEntries & { skipped: SkippedRows[] } {
  const name = typeof doc.name === 'string' && doc.name ? doc.name : 'Imported dataset';
  const sourceSchemes = list(doc.source_schemes);
  const schemes = sourceSchemes.map((s, i) => scheme(s, `s${i}`));
  const rows = list(doc.datarecords);
  const results = rows.flatMap((r, i) =>
    list(r.classification_results).map((c) => ({ record: String(i), scheme: c.scheme_id, value: c.value })),
  );
  const byOldId = new Map<string, string>();
  sourceSchemes.forEach((s, i) => {
    if (typeof s.id === 'number' || typeof s.id === 'string') byOldId.set(String(s.id), `s${i}`);
  });
  const named = new Set(results.map((r) => String(r.scheme)));
  if (byOldId.size === 0 && sourceSchemes.length === 1 && named.size === 1) byOldId.set([...named][0]!, 's0');
  const kept: Obj[] = [];
  let unresolved = 0;
  let notObjects = 0;
  for (const r of results) {
    const schemeId = byOldId.get(String(r.scheme));
    if (!schemeId) unresolved += 1;
    else if (!isObj(r.value)) notObjects += 1;
    else
      kept.push({
        id: `r${kept.length}`,
        record_id: r.record,
        scheme_id: schemeId,
        value: r.value,
        justifications: {},
        provider: 'reference',
        model: 'reference',
      });
  }
  const usedSchemes = [...new Set(kept.map((r) => r.scheme_id as string))].sort();
  const jobs =
    kept.length > 0
      ? [
          {
            id: 'j',
            name: `${name.slice(0, 200)} (reference results)`,
            description: 'Results of the reference system’s dataset export',
            status: 'completed',
            scheme_ids: usedSchemes,
            datasource_ids: ['ds'],
            record_ids: [],
            provider: 'reference',
            model: 'reference',
            options: {},
            error_message: null,
          },
        ]
      : [];
  const source = {
    ...datasource({ name: name.slice(0, 255), type: 'text_block' }, 'ds'),
    metadata: { imported_from: 'reference', dataset: name },
  };
  return {
    type: 'dataset',
    entries: [
      { kind: { kind: 'schemes' }, path: 'schemes.jsonl', rows: schemes },
      { kind: { kind: 'datasources' }, path: 'datasources.jsonl', rows: [source] },
      { kind: { kind: 'records', owner: 'ds' }, path: 'records/ds.jsonl', rows: records(rows) },
      { kind: { kind: 'jobs' }, path: 'jobs.jsonl', rows: jobs },
      ...(jobs.length > 0
        ? [{ kind: { kind: 'results', owner: 'j' } as const, path: 'results/j.jsonl', rows: kept }]
        : []),
      {
        kind: { kind: 'datasets' },
        path: 'datasets.jsonl',
        rows: [
          {
            id: 'd',
            name: name.slice(0, 255),
            description: typeof doc.description === 'string' ? doc.description : null,
            custom_metadata: isObj(doc.custom_metadata) ? doc.custom_metadata : {},
            scheme_ids: schemes.map((s) => s.id),
            job_ids: jobs.map((j) => j.id),
          },
        ],
      },
      {
        kind: { kind: 'members', owner: 'd' },
        path: 'members/d.jsonl',
        rows: rows.map((_, i) => ({ record_id: String(i) })),
      },
    ],
    skipped: [
      ...skip(
        'results',
        unresolved,
        'their scheme_id names a scheme of the old instance that the file’s source_schemes do not identify',
      ),
      ...skip('results', notObjects, 'their value is not a JSON object'),
      ...skip('jobs', list(doc.source_jobs).length, JOBS_SKIPPED),
    ],
  };
}

/**
 * Recognises one of the reference system's JSON exports by its shape (docs:
 * REFERENCE-FORMATS.md) and turns it into bundle rows: datasource (with its records), scheme,
 * dataset (see {@link fromReferenceDataset}), workspace (datasources and schemes; it carries no
 * records). Results and job configurations that name the old instance's integer ids of things
 * the file does not hold cannot be remapped: they are skipped with the reason, never attached
 * to the wrong rows.
 */
export function fromReference(doc: unknown): RowEntries & { skipped: SkippedRows[] } {
  if (!isObj(doc)) throw new BundleError('The JSON document is not an object');
  const meta = isObj(doc.meta) ? doc.meta : undefined;
  const exportType = meta?.export_type;
  if (exportType === 'datasource') {
    if (!isObj(doc.datasource)) throw new BundleError('Reference datasource export without "datasource"');
    const rows = list(doc.records);
    return {
      type: 'datasource',
      entries: [
        {
          kind: { kind: 'datasources' },
          path: 'datasources.jsonl',
          rows: [datasource(doc.datasource, 'ds')],
        },
        { kind: { kind: 'records', owner: 'ds' }, path: 'records/ds.jsonl', rows: records(rows) },
      ],
      skipped: skip(
        'results',
        list(doc.results).length,
        'they name the old instance’s scheme and job ids, which a datasource export does not hold',
      ),
    };
  }
  if (exportType === 'scheme') {
    if (!isObj(doc.scheme)) throw new BundleError('Reference scheme export without "scheme"');
    return {
      type: 'scheme',
      entries: [{ kind: { kind: 'schemes' }, path: 'schemes.jsonl', rows: [scheme(doc.scheme, 's')] }],
      skipped: [],
    };
  }
  if (exportType === 'job')
    throw new BundleError(
      'A reference job export names schemes and records it does not hold: import its workspace instead',
    );
  if (meta) throw new BundleError(`Unknown reference export type ${JSON.stringify(exportType)}`);
  if (Array.isArray(doc.datarecords)) return fromReferenceDataset(doc);
  if (Array.isArray(doc.datasources) || Array.isArray(doc.classification_schemes)) {
    const datasources = list(doc.datasources).map((d, i) => datasource(d, `ds${i}`));
    const schemes = list(doc.classification_schemes).map((s, i) => scheme(s, `s${i}`));
    return {
      type: 'workspace',
      entries: [
        { kind: { kind: 'schemes' }, path: 'schemes.jsonl', rows: schemes },
        { kind: { kind: 'datasources' }, path: 'datasources.jsonl', rows: datasources },
      ],
      skipped: skip('jobs', list(doc.classification_jobs).length, JOBS_SKIPPED),
    };
  }
  throw new BundleError('The JSON document is neither a docsift bundle nor a reference export');
}
