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

/**
 * A reference scheme field as docsift's: nulls dropped, `is_set_of_labels: false` too (the
 * reference wrote it on every type; here only label fields may carry it), and
 * `is_time_axis_hint`, which has no counterpart.
 */
function field(f: Obj): Obj {
  const out: Obj = {};
  for (const [k, v] of Object.entries(f)) {
    if (v === null || k === 'is_time_axis_hint' || (k === 'is_set_of_labels' && v === false)) continue;
    out[k] = v;
  }
  return out;
}

function scheme(s: Obj, id: string) {
  return {
    id,
    name: s.name,
    description: s.description ?? '',
    model_instructions: s.model_instructions ?? null,
    fields: list(s.fields).map(field),
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

/**
 * Recognises one of the reference system's JSON exports by its shape (docs:
 * REFERENCE-FORMATS.md) and turns it into bundle rows: datasource (with its records), scheme,
 * workspace (datasources and schemes; it carries no records). Its results and job
 * configurations name the old instance's integer ids of things the file does not hold, so they
 * cannot be remapped: they are counted as skipped, never attached to the wrong rows.
 */
export function fromReference(doc: unknown): RowEntries & { skipped: Record<string, number> } {
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
      skipped: { results: list(doc.results).length },
    };
  }
  if (exportType === 'scheme') {
    if (!isObj(doc.scheme)) throw new BundleError('Reference scheme export without "scheme"');
    return {
      type: 'scheme',
      entries: [{ kind: { kind: 'schemes' }, path: 'schemes.jsonl', rows: [scheme(doc.scheme, 's')] }],
      skipped: {},
    };
  }
  if (exportType === 'job')
    throw new BundleError(
      'A reference job export names schemes and records it does not hold: import its workspace instead',
    );
  if (meta) throw new BundleError(`Unknown reference export type ${JSON.stringify(exportType)}`);
  if (Array.isArray(doc.datarecords))
    // Datasets plug in here once they exist (their importer, then this shape).
    throw new BundleError('Reference dataset exports cannot be imported yet');
  if (Array.isArray(doc.datasources) || Array.isArray(doc.classification_schemes)) {
    const datasources = list(doc.datasources).map((d, i) => datasource(d, `ds${i}`));
    const schemes = list(doc.classification_schemes).map((s, i) => scheme(s, `s${i}`));
    return {
      type: 'workspace',
      entries: [
        { kind: { kind: 'schemes' }, path: 'schemes.jsonl', rows: schemes },
        { kind: { kind: 'datasources' }, path: 'datasources.jsonl', rows: datasources },
      ],
      skipped: { jobs: list(doc.classification_jobs).length },
    };
  }
  throw new BundleError('The JSON document is neither a docsift bundle nor a reference export');
}
