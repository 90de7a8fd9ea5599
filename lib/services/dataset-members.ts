import { type Expression, sql } from 'kysely';
import { type ExportFormat, exportMembers, type MemberExport } from '#lib/classify/export.ts';
import type { SchemeField } from '#lib/classify/scheme-definition.ts';
import type { Db } from '#lib/db/database.ts';
import { toPage } from '#lib/db/paging.ts';
import type { DataRecord, Dataset, User } from '#lib/db/schema.ts';
import { ValidationError } from '#lib/errors.ts';
import type { Paging } from '#lib/http/schemas/common.ts';
import type { DatasetCreate, MembersAdd } from '#lib/http/schemas/datasets.ts';
import { refuseDeletingDatasources } from './access.ts';
import {
  addSources,
  createDataset,
  type DatasetOut,
  foreignIds,
  readDataset,
  refuse,
  requireDataset,
  whileReferencesExist,
} from './datasets.ts';
import { filterRecords, RECORD_COLUMNS, type RecordOut, TEXT_PREVIEW_CHARS, toRecordOut } from './records.ts';
import { filterResults, RESULT_COLUMNS, type ResultOut, type ResultRow, toResultOut } from './results.ts';

/**
 * The most members one request may add through a filter. The filter is materialized by one
 * INSERT … SELECT inside the API's statement timeout (10 s); 100,000 by full-text search took 3.2 s
 * (test/e2e/datasets.test.ts), so this leaves room for slow filters. Beyond it: a 422.
 */
export const MAX_MEMBERS_PER_REQUEST = 100_000;

export type MembersAdded = { added: number; already_present: number; member_count: number };

async function memberCount(db: Db, datasetId: string): Promise<number> {
  const row = await db
    .selectFrom('dataset_records')
    .select(sql<number>`count(*)::int`.as('count'))
    .where('dataset_id', '=', datasetId)
    .executeTakeFirstOrThrow();
  return row.count;
}

/**
 * Adds the records `source` selects (one `record_id` column, distinct) to the dataset in one
 * statement: at most `cap` of them, or none when the source holds more (then `matched` is
 * `cap + 1`). Already present members are skipped (ON CONFLICT DO NOTHING), so applying a
 * filter twice adds nothing the second time.
 */
async function materialize(
  db: Db,
  datasetId: string,
  source: Expression<unknown>,
  cap: number,
): Promise<{ matched: number; added: number }> {
  const { rows } = await sql<{ matched: number; added: number }>`
    WITH matched AS (SELECT s.record_id FROM (${source}) AS s LIMIT ${cap + 1}),
    inserted AS (
      INSERT INTO dataset_records (dataset_id, record_id)
      SELECT ${datasetId}::uuid, record_id FROM matched
      WHERE (SELECT count(*) FROM matched) <= ${cap}
      ON CONFLICT DO NOTHING
      RETURNING 1)
    SELECT (SELECT count(*)::int FROM matched) AS matched, (SELECT count(*)::int FROM inserted) AS added
  `.execute(db);
  return rows[0]!;
}

/**
 * Adds members by explicit `record_ids`, a results filter (the records of the matching
 * results; the filter's job and scheme, or the job's schemes, join the dataset's sources) or
 * a records filter. Every id must be the workspace's (422 naming its path); a filter matching
 * more than {@link MAX_MEMBERS_PER_REQUEST} records adds nothing and answers 422.
 */
export async function addMembers(
  db: Db,
  user: Pick<User, 'id'>,
  workspaceId: string,
  datasetId: string,
  body: MembersAdd,
  cap = MAX_MEMBERS_PER_REQUEST,
): Promise<MembersAdded> {
  const dataset = await requireDataset(db, user, workspaceId, datasetId);
  let source: Expression<unknown>;
  let sources: { scheme_ids: string[]; job_ids: string[] } | undefined;
  let path: string;
  if (body.record_ids) {
    refuse(await foreignIds(db, workspaceId, 'record', body.record_ids, 'record_ids'));
    path = 'record_ids';
    source = db
      .selectFrom('records')
      .select('id as record_id')
      .where('workspace_id', '=', workspaceId)
      .where('id', '=', sql<string>`ANY(${body.record_ids}::uuid[])`);
  } else if (body.results_filter) {
    const f = body.results_filter;
    path = 'results_filter';
    refuse([
      ...(await foreignIds(db, workspaceId, 'job', f.job_id, 'results_filter.job_id')),
      ...(await foreignIds(db, workspaceId, 'scheme', f.scheme_id, 'results_filter.scheme_id')),
      ...(await foreignIds(db, workspaceId, 'datasource', f.datasource_id, 'results_filter.datasource_id')),
    ]);
    await refuseDeletingDatasources(db, f.datasource_id);
    source = filterResults(db, workspaceId, f).select('classification_results.record_id').distinct();
    sources = { scheme_ids: f.scheme_id ? [f.scheme_id] : [], job_ids: f.job_id ? [f.job_id] : [] };
    if (f.job_id && !f.scheme_id) {
      // The job's schemes that still exist (a job keeps the ids of deleted ones).
      const schemes = await db
        .selectFrom('classification_schemes')
        .select('id')
        .where('workspace_id', '=', workspaceId)
        .where(
          sql<boolean>`id IN (SELECT unnest(scheme_ids) FROM classification_jobs WHERE id = ${f.job_id})`,
        )
        .execute();
      sources.scheme_ids = schemes.map((s) => s.id);
    }
  } else {
    const f = body.records_filter!;
    path = 'records_filter';
    refuse(await foreignIds(db, workspaceId, 'datasource', f.datasource_id, 'records_filter.datasource_id'));
    await refuseDeletingDatasources(db, f.datasource_id);
    source = filterRecords(db, workspaceId, f).select('id as record_id');
  }
  const { matched, added } = await whileReferencesExist(() =>
    db.transaction().execute(async (trx) => {
      const counts = await materialize(trx, dataset.id, source, cap);
      if (counts.matched <= cap && sources) await addSources(trx, dataset.id, sources);
      return counts;
    }),
  );
  if (matched > cap)
    throw new ValidationError([
      {
        location: 'body',
        path,
        message: `Matches more than ${cap} records, the most one request adds: narrow it (e.g. by event time) and add in parts`,
      },
    ]);
  return { added, already_present: matched - added, member_count: await memberCount(db, dataset.id) };
}

/**
 * Creates a dataset; with a `results_filter`, its first members are the records of the matching
 * results, added as {@link addMembers} adds them (the reference system's "dataset from a job").
 * A filter refused (an id outside the workspace, too many records) leaves no dataset behind.
 */
export async function createDatasetWithMembers(
  db: Db,
  user: Pick<User, 'id'>,
  workspaceId: string,
  body: DatasetCreate,
): Promise<DatasetOut> {
  const { results_filter, ...fields } = body;
  const dataset = await createDataset(db, user, workspaceId, fields);
  if (!results_filter) return dataset;
  try {
    await addMembers(db, user, workspaceId, dataset.id, { results_filter });
  } catch (error) {
    await db.deleteFrom('datasets').where('id', '=', dataset.id).execute();
    throw error;
  }
  return readDataset(db, user, workspaceId, dataset.id);
}

/** Removes members by record id (ids that are not members count as nothing removed). */
export async function removeMembers(
  db: Db,
  user: Pick<User, 'id'>,
  workspaceId: string,
  datasetId: string,
  recordIds: string[],
): Promise<{ removed: number; member_count: number }> {
  const dataset = await requireDataset(db, user, workspaceId, datasetId);
  refuse(await foreignIds(db, workspaceId, 'record', recordIds, 'record_ids'));
  const result = await db
    .deleteFrom('dataset_records')
    .where('dataset_id', '=', dataset.id)
    .where('record_id', '=', sql<string>`ANY(${recordIds}::uuid[])`)
    .executeTakeFirst();
  return { removed: Number(result.numDeletedRows), member_count: await memberCount(db, dataset.id) };
}

/** Results of these records for these schemes (any job), grouped by record, in result order. */
async function resultsOf(
  db: Db,
  recordIds: string[],
  schemeIds: string[],
): Promise<Map<string, ResultOut[]>> {
  const byRecord = new Map<string, ResultOut[]>();
  if (recordIds.length === 0 || schemeIds.length === 0) return byRecord;
  const rows = (await db
    .selectFrom('classification_results')
    .innerJoin('records', 'records.id', 'classification_results.record_id')
    .select(RESULT_COLUMNS)
    .where('classification_results.record_id', '=', sql<string>`ANY(${recordIds}::uuid[])`)
    .where('classification_results.scheme_id', '=', sql<string>`ANY(${schemeIds}::uuid[])`)
    .orderBy('classification_results.id')
    .execute()) as ResultRow[];
  for (const row of rows) {
    const list = byRecord.get(row.record_id) ?? [];
    list.push(toResultOut(row));
    byRecord.set(row.record_id, list);
  }
  return byRecord;
}

export type MemberOut = RecordOut & { added_at: string; results?: ResultOut[] };

/**
 * A page of a dataset's members by record id, each as the records list shows it (a text
 * preview); with `schemeIds` (the workspace's: 422 otherwise), each carries its results for them.
 */
export async function listMembers(
  db: Db,
  user: Pick<User, 'id'>,
  workspaceId: string,
  datasetId: string,
  query: Paging & { scheme_ids?: string[] | undefined },
) {
  const dataset = await requireDataset(db, user, workspaceId, datasetId);
  const unknown = await foreignIds(db, workspaceId, 'scheme', query.scheme_ids, 'scheme_ids');
  refuse(unknown.map((e) => ({ ...e, location: 'query' as const, path: 'scheme_ids' })));
  const rows = (await db
    .selectFrom('dataset_records as m')
    .innerJoin('records', 'records.id', 'm.record_id')
    .select(RECORD_COLUMNS.filter((c) => c !== 'text_content').map((c) => `records.${c}` as const))
    .select([
      'm.added_at',
      sql<string>`left(records.text_content, ${TEXT_PREVIEW_CHARS})`.as('text_content'),
      sql<number>`length(records.text_content)`.as('text_length'),
    ])
    .where('m.dataset_id', '=', dataset.id)
    .$if(query.cursor !== undefined, (q) => q.where('m.record_id', '>', query.cursor!))
    .orderBy('m.record_id')
    .limit(query.limit + 1)
    .execute()) as (DataRecord & { text_length: number; added_at: Date })[];
  const page = toPage(rows, query.limit);
  const results = query.scheme_ids
    ? await resultsOf(
        db,
        page.data.map((r) => r.id),
        query.scheme_ids,
      )
    : undefined;
  return {
    ...page,
    count: await memberCount(db, dataset.id),
    data: page.data.map(
      (r): MemberOut => ({
        ...toRecordOut(r),
        added_at: r.added_at.toISOString(),
        ...(results && { results: results.get(r.id) ?? [] }),
      }),
    ),
  };
}

/** A member with its whole record and its results for the dataset's schemes. */
export type DatasetMember = { record: DataRecord; added_at: Date; results: ResultOut[] };

/** What a dataset holds, for exports and bundles: see {@link datasetContents}. */
export type DatasetContents = {
  dataset: Dataset;
  /** The schemes whose results the dataset carries, by id. */
  schemeIds: string[];
  /** The jobs whose results the dataset carries, by id (results may also come from others). */
  jobIds: string[];
  /** Every member in record id order, read 500 at a time: bounded memory for any size. */
  members: () => AsyncGenerator<DatasetMember>;
};

/**
 * A dataset's contents without an ownership check (the caller has done it, e.g. through
 * {@link requireDataset}): its schemes and jobs, and an iterator over its members in record id
 * order, each with its whole record and its results (from any job) for the dataset's schemes.
 * Each call of `members()` starts over.
 *
 * @example
 * const { schemeIds, members } = await datasetContents(db, dataset.id);
 * for await (const { record, results } of members()) write(record, results);
 */
export async function datasetContents(db: Db, datasetId: string): Promise<DatasetContents> {
  const dataset = await db
    .selectFrom('datasets')
    .selectAll()
    .where('id', '=', datasetId)
    .executeTakeFirstOrThrow();
  const [schemes, jobs] = await Promise.all([
    db
      .selectFrom('dataset_schemes')
      .select('scheme_id')
      .where('dataset_id', '=', datasetId)
      .orderBy('scheme_id')
      .execute(),
    db
      .selectFrom('dataset_jobs')
      .select('job_id')
      .where('dataset_id', '=', datasetId)
      .orderBy('job_id')
      .execute(),
  ]);
  const schemeIds = schemes.map((s) => s.scheme_id);
  async function* members(): AsyncGenerator<DatasetMember> {
    let after: string | undefined;
    for (;;) {
      const rows = (await db
        .selectFrom('dataset_records as m')
        .innerJoin('records', 'records.id', 'm.record_id')
        .select(RECORD_COLUMNS.map((c) => `records.${c}` as const))
        .select('m.added_at')
        .where('m.dataset_id', '=', datasetId)
        .$if(after !== undefined, (q) => q.where('m.record_id', '>', after!))
        .orderBy('m.record_id')
        .limit(500)
        .execute()) as (DataRecord & { added_at: Date })[];
      if (rows.length === 0) return;
      const results = await resultsOf(
        db,
        rows.map((r) => r.id),
        schemeIds,
      );
      for (const { added_at, ...record } of rows) {
        yield { record: record as DataRecord, added_at, results: results.get(record.id) ?? [] };
      }
      after = rows.at(-1)!.id;
    }
  }
  return { dataset, schemeIds, jobIds: jobs.map((j) => j.job_id), members };
}

/**
 * A dataset's export, in a job export's formats ({@link exportMembers}): every member with its
 * results for the dataset's schemes, produced as members are read.
 */
export async function exportDataset(
  db: Db,
  user: Pick<User, 'id'>,
  workspaceId: string,
  datasetId: string,
  format: ExportFormat,
  includeText: boolean,
): Promise<{ chunks: AsyncGenerator<string>; filename: string; count: () => number }> {
  const dataset = await requireDataset(db, user, workspaceId, datasetId);
  const contents = await datasetContents(db, dataset.id);
  const schemes =
    contents.schemeIds.length === 0
      ? []
      : await db
          .selectFrom('classification_schemes')
          .select(['id', 'name', 'fields'])
          .where('id', 'in', contents.schemeIds)
          .orderBy('id')
          .execute();
  const columns = new Map(
    schemes.map((s) => [s.id, { name: s.name, fields: (s.fields as SchemeField[]).map((f) => f.name) }]),
  );
  let count = 0;
  async function* rows(): AsyncGenerator<MemberExport> {
    for await (const { record, added_at, results } of contents.members()) {
      count++;
      yield {
        record_id: record.id,
        datasource_id: record.datasource_id,
        title: record.title,
        ...(includeText && { text_content: record.text_content }),
        source_metadata: record.source_metadata,
        event_timestamp: record.event_timestamp?.toISOString() ?? null,
        content_hash: record.content_hash,
        added_at: added_at.toISOString(),
        results,
      };
    }
  }
  return {
    chunks: exportMembers(rows(), format, columns, includeText),
    filename: `dataset-${dataset.id}.${format}`,
    count: () => count,
  };
}
