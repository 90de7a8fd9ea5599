import { type SelectQueryBuilder, sql } from 'kysely';
import type { Db } from '#lib/db/database.ts';
import { toPage } from '#lib/db/paging.ts';
import type { Database, User } from '#lib/db/schema.ts';
import { NotFoundError } from '#lib/errors.ts';
import type { Paging } from '#lib/http/schemas/common.ts';
import { requireWorkspace } from './access.ts';
import { requireJob } from './jobs.ts';

type ResultFields = {
  id: string;
  job_id: string;
  record_id: string;
  scheme_id: string;
  datasource_id: string;
  value: Record<string, unknown>;
  justifications: Record<string, unknown>;
  provider: string;
  model: string;
  created_at: string;
};

/** What the reference system's clients read, beside the result's own fields (see toResultOut). */
export type ResultOut = ResultFields & {
  datarecord_id: string;
  timestamp: string;
  display_value: unknown;
};

export type ResultFilters = Paging & {
  job_id?: string | undefined;
  scheme_id?: string | undefined;
  datasource_id?: string | undefined;
  record_id?: string | undefined;
  /** Any of these records (the reference system's filter). */
  datarecord_ids?: string[] | undefined;
  /** Any of these schemes (the reference system's filter). */
  scheme_ids?: string[] | undefined;
  /** A field of the value to filter on, with `label` or `min`/`max`. */
  field?: string | undefined;
  label?: string | undefined;
  min?: number | undefined;
  max?: number | undefined;
};

export type ResultRow = Omit<ResultFields, 'created_at'> & { created_at: Date };

/** A result row with its timestamp as text: what exports carry. */
function resultFields(r: ResultRow): ResultFields {
  return { ...r, created_at: r.created_at.toISOString() };
}

/**
 * A result row as the API returns it, with the reference system's names beside docsift's:
 * `datarecord_id`, `timestamp`, and `display_value` (a single-field scheme's value, else the
 * whole value).
 */
export function toResultOut(r: ResultRow): ResultOut {
  const fields = resultFields(r);
  const keys = Object.keys(r.value);
  return {
    ...fields,
    datarecord_id: r.record_id,
    timestamp: fields.created_at,
    display_value: keys.length === 1 ? r.value[keys[0]!] : r.value,
  };
}

type ResultQuery = SelectQueryBuilder<Database, 'classification_results' | 'records', object>;

/**
 * The workspace's results, joined to their records, narrowed by the filters, with nothing
 * selected yet: the results list pages it, datasets materialize it into members.
 */
export function filterResults(
  db: Db,
  workspaceId: string,
  f: Omit<ResultFilters, 'limit' | 'cursor'>,
): ResultQuery {
  const field = f.field;
  return db
    .selectFrom('classification_results')
    .innerJoin('records', 'records.id', 'classification_results.record_id')
    .where('classification_results.workspace_id', '=', workspaceId)
    .$if(f.job_id !== undefined, (q) => q.where('classification_results.job_id', '=', f.job_id!))
    .$if(f.scheme_id !== undefined, (q) => q.where('classification_results.scheme_id', '=', f.scheme_id!))
    .$if(f.record_id !== undefined, (q) => q.where('classification_results.record_id', '=', f.record_id!))
    .$if(f.datarecord_ids !== undefined, (q) =>
      q.where('classification_results.record_id', 'in', f.datarecord_ids!),
    )
    .$if(f.scheme_ids !== undefined, (q) => q.where('classification_results.scheme_id', 'in', f.scheme_ids!))
    .$if(f.datasource_id !== undefined, (q) => q.where('records.datasource_id', '=', f.datasource_id!))
    .$if(field !== undefined && f.label !== undefined, (q) =>
      // A label field holds one label (a string) or several (an array): match either.
      q.where((eb) =>
        eb.or([
          sql<boolean>`${eb.ref('classification_results.value')} -> ${field} = to_jsonb(${f.label}::text)`,
          sql<boolean>`${eb.ref('classification_results.value')} -> ${field} @> jsonb_build_array(${f.label}::text)`,
        ]),
      ),
    )
    .$if(field !== undefined && f.min !== undefined, (q) =>
      q.where(sql<boolean>`jsonb_typeof(classification_results.value -> ${field}) = 'number'
        AND (classification_results.value ->> ${field})::numeric >= ${f.min}`),
    )
    .$if(field !== undefined && f.max !== undefined, (q) =>
      q.where(sql<boolean>`jsonb_typeof(classification_results.value -> ${field}) = 'number'
        AND (classification_results.value ->> ${field})::numeric <= ${f.max}`),
    ) as unknown as ResultQuery;
}

export const RESULT_COLUMNS = [
  'classification_results.id',
  'classification_results.job_id',
  'classification_results.record_id',
  'classification_results.scheme_id',
  'records.datasource_id',
  'classification_results.value',
  'classification_results.justifications',
  'classification_results.provider',
  'classification_results.model',
  'classification_results.created_at',
] as const;

export async function listResults(
  db: Db,
  user: Pick<User, 'id'>,
  workspaceId: string,
  filters: ResultFilters,
) {
  await requireWorkspace(db, user, workspaceId);
  const base = filterResults(db, workspaceId, filters);
  const [rows, total] = await Promise.all([
    base
      .select(RESULT_COLUMNS)
      .$if(filters.cursor !== undefined, (q) => q.where('classification_results.id', '>', filters.cursor!))
      .orderBy('classification_results.id')
      .limit(filters.limit + 1)
      .execute() as Promise<ResultRow[]>,
    base.select(sql<number>`count(*)::int`.as('count')).executeTakeFirstOrThrow() as Promise<{
      count: number;
    }>,
  ]);
  const page = toPage(rows, filters.limit);
  return { ...page, data: page.data.map(toResultOut), count: total.count };
}

export async function getResult(
  db: Db,
  user: Pick<User, 'id'>,
  workspaceId: string,
  resultId: string,
): Promise<ResultOut> {
  await requireWorkspace(db, user, workspaceId);
  const row = (await filterResults(db, workspaceId, {})
    .select(RESULT_COLUMNS)
    .where('classification_results.id', '=', resultId)
    .executeTakeFirst()) as ResultRow | undefined;
  if (!row) throw new NotFoundError('Classification result not found');
  return toResultOut(row);
}

export type ExportRow = ResultFields & { record_title: string | null; text_content?: string };

/** Every result of a job with its record, a page at a time (bounded memory for big jobs). */
export async function* jobResults(
  db: Db,
  user: Pick<User, 'id'>,
  workspaceId: string,
  jobId: string,
  includeText: boolean,
): AsyncGenerator<ExportRow> {
  await requireJob(db, user, workspaceId, jobId);
  let after: string | undefined;
  for (;;) {
    const rows = (await filterResults(db, workspaceId, { job_id: jobId })
      .select([...RESULT_COLUMNS, 'records.title as record_title'])
      // A million texts nobody asked for are not read.
      .$if(includeText, (q) => q.select('records.text_content'))
      .$if(after !== undefined, (q) => q.where('classification_results.id', '>', after!))
      .orderBy('classification_results.id')
      .limit(500)
      .execute()) as (ResultRow & { record_title: string | null; text_content?: string })[];
    if (rows.length === 0) return;
    for (const { text_content, ...row } of rows) {
      yield { ...resultFields(row), record_title: row.record_title, ...(includeText && { text_content }) };
    }
    after = rows.at(-1)!.id;
  }
}
