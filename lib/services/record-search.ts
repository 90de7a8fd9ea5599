import { CompiledQuery, type SelectQueryBuilder, sql } from 'kysely';
import type { Db } from '#lib/db/database.ts';
import type { Database } from '#lib/db/schema.ts';

/**
 * Records' full-text search documents (`record_search`), built apart from the records.
 *
 * The records table had them as a generated `tsvector` column under a GIN index, and building
 * them row by row was most of a CSV ingest's time. Now a run writes its records bare and its
 * datasource turns `search_status: indexing`; {@link indexDatasource} then builds the documents
 * in chunks (a chain of messages, each bounded) and sets it `ready`. Small writes (a run of at most {@link INLINE_INDEX_MAX_RECORDS},
 * an append, a scraped page, an import) build theirs in their own transaction with
 * {@link indexRecords}, so what they wrote is findable when they commit.
 */

/** Runs of at most this many records index in their own transaction; larger ones after it. */
export const INLINE_INDEX_MAX_RECORDS = 5_000;
/** Records a deferred index step takes per transaction: each statement stays a few seconds. */
const INDEX_CHUNK_RECORDS = 5_000;
/** Chunks per `index_search` message (100,000 records, about 10 s): a longer run chains messages. */
const INDEX_CHUNKS_PER_MESSAGE = 20;

/** 'simple': no stemming, so every language the sources come in is searchable alike. */
const DOCUMENT = sql`to_tsvector('simple', coalesce(r.title, '') || ' ' || r.text_content)`;
/** What a document was built from: a record whose title or text changed is rebuilt. */
const DOC_HASH = sql<string>`md5(coalesce(r.title, '') || ' ' || r.content_hash)`;

/** Which records of a datasource to index: all, an id range, some ids, or one source key. */
export type IndexScope = {
  datasourceId: string;
  /** Ids above this one. */
  after?: string | undefined;
  /** Ids up to this one. */
  until?: string | undefined;
  ids?: string[];
  sourceKey?: string;
};

/**
 * Builds the search documents of the records in `scope` that have none or an outdated one.
 * Idempotent, and safe beside another index step of the same records (rows in id order).
 */
export async function indexRecords(db: Db, scope: IndexScope): Promise<number> {
  const result = await sql`
    INSERT INTO record_search (record_id, workspace_id, doc_hash, search)
    SELECT r.id, r.workspace_id, ${DOC_HASH}, ${DOCUMENT}
    FROM records r LEFT JOIN record_search s ON s.record_id = r.id
    WHERE r.datasource_id = ${scope.datasourceId}
      ${scope.after === undefined ? sql`` : sql`AND r.id > ${scope.after}`}
      ${scope.until === undefined ? sql`` : sql`AND r.id <= ${scope.until}`}
      ${scope.ids === undefined ? sql`` : sql`AND r.id = any(${scope.ids}::uuid[])`}
      ${scope.sourceKey === undefined ? sql`` : sql`AND r.source_key = ${scope.sourceKey}`}
      AND (s.record_id IS NULL OR s.doc_hash <> ${DOC_HASH})
    ORDER BY r.id
    ON CONFLICT (record_id) DO UPDATE SET doc_hash = excluded.doc_hash, search = excluded.search`.execute(db);
  return Number(result.numAffectedRows ?? 0);
}

/**
 * One message of a run's deferred index step (`index_search`): the datasource's records after
 * `after`, a chunk per transaction, at most `chunks` chunks; then either the cursor to go on
 * from (the caller sends the next message: no invocation does unbounded work), or, at the end,
 * `search_status: ready` if the datasource is still on that run. A redelivery redoes only what
 * is missing; a newer run's own step finishes that one.
 */
export async function indexDatasource(
  db: Db,
  step: { datasourceId: string; runId: string; after?: string | undefined },
  { chunks = INDEX_CHUNKS_PER_MESSAGE, chunkRecords = INDEX_CHUNK_RECORDS } = {},
): Promise<{ indexed: number; next?: string }> {
  const { datasourceId } = step;
  let after = step.after;
  let indexed = 0;
  for (let chunk = 0; chunk < chunks; chunk++) {
    const end = await db
      .selectFrom('records')
      .select('id')
      .where('datasource_id', '=', datasourceId)
      .$if(after !== undefined, (q) => q.where('id', '>', after!))
      .orderBy('id')
      .offset(chunkRecords - 1)
      .limit(1)
      .executeTakeFirst();
    indexed += await indexRecords(db, { datasourceId, after, until: end?.id });
    if (!end) {
      await db
        .updateTable('datasources')
        .set({ search_status: 'ready' })
        .where('id', '=', datasourceId)
        .where('run_id', '=', step.runId)
        .where('search_status', '=', 'indexing')
        .execute();
      return { indexed };
    }
    after = end.id;
  }
  return { indexed, next: after };
}

/** A search document matches `q`, read in web search syntax ("a phrase", or, -not). */
const matches = (q: string) => sql<boolean>`search @@ websearch_to_tsquery('simple', ${q})`;

/** Matches at most this many (counted first): a page takes them all through the GIN index. */
export const FEW_SEARCH_MATCHES = 2_000;

/**
 * The condition "the record matches `q`" (web search syntax) for a records query aliased as
 * its table name, within one workspace. With `few` (the caller counted at most
 * {@link FEW_SEARCH_MATCHES}), the matches are taken whole through the GIN index and then
 * paged: `OFFSET 0` keeps the planner from walking the workspace's records in id order and
 * testing each, its choice when it expects many matches (a word its statistics do not know,
 * or statistics not yet gathered after a large ingest), which reads every record when there
 * are few or none (1.9 s p95 at a million records).
 */
export function matchesSearch(workspaceId: string, q: string, few = false) {
  return few
    ? sql<boolean>`records.id IN (SELECT record_id FROM record_search
        WHERE workspace_id = ${workspaceId} AND ${matches(q)} OFFSET 0)`
    : sql<boolean>`records.id IN (SELECT record_id FROM record_search
        WHERE workspace_id = ${workspaceId} AND ${matches(q)})`;
}

/**
 * Past this many matches, a total with `q` is Postgres's estimate, not a count: counting a word
 * that half of ten million records hold takes longer than the API's statement timeout, while
 * counting up to the cap stops there (measured in bench/README.md "Scale").
 */
export const EXACT_SEARCH_COUNT_MAX = 10_000;

/** A total of matches: exact, or (past the cap) the planner's estimate, never below the cap. */
export type SearchTotal = { count: number; exact: boolean };

/**
 * The total of a query's rows: counted exactly up to `max` (a LIMIT stops the scan there), else
 * the planner's estimate of the whole (from the column statistics of the words searched), at
 * least `max + 1`.
 */
export async function cappedTotal<T extends keyof Database>(
  db: Db,
  query: SelectQueryBuilder<Database, T, object>,
  max: number,
): Promise<SearchTotal> {
  const rows = query.select(sql`1`.as('one'));
  const { count } = await db
    .selectFrom(rows.limit(max + 1).as('matches'))
    .select((eb) => eb.fn.countAll<string>().as('count'))
    .executeTakeFirstOrThrow();
  if (Number(count) <= max) return { count: Number(count), exact: true };
  const compiled = rows.compile();
  const plan = await db.executeQuery<{ 'QUERY PLAN': [{ Plan: { 'Plan Rows': number } }] }>(
    CompiledQuery.raw(`EXPLAIN (FORMAT JSON) ${compiled.sql}`, [...compiled.parameters]),
  );
  const estimate = Math.round(plan.rows[0]?.['QUERY PLAN'][0].Plan['Plan Rows'] ?? 0);
  return { count: Math.max(estimate, max + 1), exact: false };
}

/**
 * How many records of the workspace match `q`: counted on the search documents alone (one per
 * record, removed with it), without joining the records, which took most of a count's time.
 */
export function countSearchMatches(
  db: Db,
  workspaceId: string,
  q: string,
  max: number,
): Promise<SearchTotal> {
  return cappedTotal(
    db,
    db.selectFrom('record_search').where('workspace_id', '=', workspaceId).where(matches(q)),
    max,
  );
}
