import path from 'node:path';
import { sql } from 'kysely';
import type { Db } from '#lib/db/database.ts';
import type { ObjectStore } from '#lib/ports/objects/store.ts';
import { ByteChannel } from './channel.ts';
import { BundleError } from './errors.ts';
import type { BundleType } from './format.ts';
import type { BundleWriter } from './zip-writer.ts';

/**
 * What a bundle holds, as id lists of the workspace (`all`: every row of the kind). Each bundle
 * type is one exporter below that picks these; the writers are shared.
 */
export type ExportPlan = {
  schemes: 'all' | string[];
  datasources: 'all' | string[];
  /** Every record of the datasources, only those a job's results refer to, or a dataset's members. */
  records: 'all' | { resultsOf: string } | { membersOf: string };
  jobs: 'all' | string[];
  /** The jobs' results over a dataset's members only (a dataset bundle); otherwise all of them. */
  results?: { membersOf: string };
  /** Datasets with their membership (none: no `datasets.jsonl`). */
  datasets?: 'all' | string[];
};

type Exporter = (db: Db, workspaceId: string, resourceId: string | undefined) => Promise<ExportPlan>;

async function requireRow(
  db: Db,
  table: 'datasources' | 'classification_schemes' | 'classification_jobs' | 'datasets',
  workspaceId: string,
  id: string | undefined,
) {
  const row = id
    ? await db
        .selectFrom(table)
        .selectAll()
        .where('id', '=', id)
        .where('workspace_id', '=', workspaceId)
        .executeTakeFirst()
    : undefined;
  if (!row)
    throw new BundleError(
      `The ${table.replace(/s$/, '').replace('classification_', '')} to export no longer exists`,
    );
  return row;
}

/** The exporter of each bundle type. */
export const EXPORTERS: Record<BundleType, Exporter> = {
  datasource: async (db, ws, id) => {
    await requireRow(db, 'datasources', ws, id);
    return { schemes: [], datasources: [id!], records: 'all', jobs: [] };
  },
  scheme: async (db, ws, id) => {
    await requireRow(db, 'classification_schemes', ws, id);
    return { schemes: [id!], datasources: [], records: 'all', jobs: [] };
  },
  classification_job: async (db, ws, id) => {
    const job = (await requireRow(db, 'classification_jobs', ws, id)) as {
      scheme_ids: string[];
      datasource_ids: string[];
    };
    return {
      schemes: job.scheme_ids,
      datasources: job.datasource_ids,
      records: { resultsOf: id! },
      jobs: [id!],
    };
  },
  dataset: async (db, ws, id) => {
    await requireRow(db, 'datasets', ws, id);
    const [schemes, jobs, sources] = await Promise.all([
      db.selectFrom('dataset_schemes').select('scheme_id').where('dataset_id', '=', id!).execute(),
      db
        .selectFrom('dataset_jobs as dj')
        .innerJoin('classification_jobs as j', 'j.id', 'dj.job_id')
        .select(['j.id', 'j.scheme_ids', 'j.datasource_ids'])
        .where('dj.dataset_id', '=', id!)
        .execute(),
      db
        .selectFrom('dataset_records as m')
        .innerJoin('records as r', 'r.id', 'm.record_id')
        .select('r.datasource_id')
        .distinct()
        .where('m.dataset_id', '=', id!)
        .execute(),
    ]);
    // The jobs' own schemes and datasources come too: a job row may only name what the bundle holds.
    return {
      schemes: [...new Set([...schemes.map((s) => s.scheme_id), ...jobs.flatMap((j) => j.scheme_ids)])],
      datasources: [
        ...new Set([...sources.map((s) => s.datasource_id), ...jobs.flatMap((j) => j.datasource_ids)]),
      ],
      records: { membersOf: id! },
      jobs: jobs.map((j) => j.id),
      results: { membersOf: id! },
      datasets: [id!],
    };
  },
  workspace: async () => ({
    schemes: 'all',
    datasources: 'all',
    records: 'all',
    jobs: 'all',
    datasets: 'all',
  }),
};

/** Rows whose record is a member of the dataset (`ref`: the row's record id column). */
const memberOf = (datasetId: string, ref: 'records.id' | 'classification_results.record_id') =>
  sql<boolean>`exists (select 1 from dataset_records m where m.dataset_id = ${datasetId} and m.record_id = ${sql.ref(ref)})`;

const PAGE = 1000;

/** `id = any(ids)`: an empty list matches nothing (where `IN ()` would not parse). */
const anyId = (ids: string[]) => sql<boolean>`id = any(${ids}::uuid[])`;

/** Counts of what a bundle holds, by kind. */
export type BundleCounts = {
  schemes: number;
  datasources: number;
  records: number;
  files: number;
  jobs: number;
  results: number;
  datasets?: number;
  members?: number;
};

/**
 * Writes the plan's rows into `bundle`, a page at a time (keyset on ids), in the order an
 * import needs them: schemes, datasources, their records and files, jobs, their results.
 * Run it in one repeatable-read transaction for a consistent snapshot.
 */
export async function writePlan(
  db: Db,
  objects: ObjectStore,
  workspaceId: string,
  plan: ExportPlan,
  bundle: BundleWriter,
  includeFiles: boolean,
): Promise<BundleCounts> {
  const counts: BundleCounts = { schemes: 0, datasources: 0, records: 0, files: 0, jobs: 0, results: 0 };
  const schemes = await db
    .selectFrom('classification_schemes')
    .select(['id', 'name', 'description', 'model_instructions', 'fields'])
    .where('workspace_id', '=', workspaceId)
    .$if(plan.schemes !== 'all', (q) => q.where(anyId(plan.schemes as string[])))
    .orderBy('id')
    .execute();
  const schemeEntry = bundle.entry('schemes.jsonl');
  for (const s of schemes) await schemeEntry.writeLine(s);
  await schemeEntry.close();
  counts.schemes = schemes.length;

  const datasources = await db
    .selectFrom('datasources')
    .select(['id', 'name', 'type', 'options', 'status', 'error_message', 'metadata', 'object_key'])
    .where('workspace_id', '=', workspaceId)
    .$if(plan.datasources !== 'all', (q) => q.where(anyId(plan.datasources as string[])))
    .orderBy('id')
    .execute();
  const dsEntry = bundle.entry('datasources.jsonl');
  for (const { object_key, ...d } of datasources)
    await dsEntry.writeLine({
      ...d,
      file: includeFiles && object_key ? path.posix.basename(object_key) : null,
    });
  await dsEntry.close();
  counts.datasources = datasources.length;

  // A part of the records: jobs' record lists are cut to it (a whole workspace's are kept).
  const written = plan.records === 'all' ? undefined : new Set<string>();
  for (const d of datasources) {
    const entry = bundle.entry(`records/${d.id}.jsonl`);
    let after: string | undefined;
    for (;;) {
      const rows = await db
        .selectFrom('records')
        .select([
          'id',
          'source_key',
          'title',
          'text_content',
          'source_metadata',
          'event_timestamp',
          'appended',
        ])
        .where('datasource_id', '=', d.id)
        .$if(after !== undefined, (q) => q.where('id', '>', after!))
        .$if(typeof plan.records === 'object' && 'membersOf' in plan.records, (q) =>
          q.where(memberOf((plan.records as { membersOf: string }).membersOf, 'records.id')),
        )
        .$if(typeof plan.records === 'object' && 'resultsOf' in plan.records, (q) =>
          q.where(({ exists, selectFrom }) =>
            exists(
              selectFrom('classification_results as r')
                .select(sql`1`.as('one'))
                .whereRef('r.record_id', '=', 'records.id')
                .where('r.job_id', '=', (plan.records as { resultsOf: string }).resultsOf),
            ),
          ),
        )
        .orderBy('id')
        .limit(PAGE)
        .execute();
      for (const r of rows) {
        written?.add(r.id);
        await entry.writeLine({ ...r, event_timestamp: r.event_timestamp?.toISOString() ?? null });
      }
      counts.records += rows.length;
      if (rows.length < PAGE) break;
      after = rows.at(-1)!.id;
    }
    await entry.close();
  }

  if (includeFiles) {
    for (const d of datasources) {
      if (!d.object_key) continue;
      const entry = bundle.entry(`files/${d.id}/${path.posix.basename(d.object_key)}`);
      for await (const chunk of await objects.read(d.object_key)) await entry.write(chunk as Uint8Array);
      await entry.close();
      counts.files += 1;
    }
  }

  const jobs = await db
    .selectFrom('classification_jobs')
    .select([
      'id',
      'name',
      'description',
      'status',
      'scheme_ids',
      'datasource_ids',
      'record_ids',
      'provider',
      'model',
      'options',
      'error_message',
    ])
    .where('workspace_id', '=', workspaceId)
    .$if(plan.jobs !== 'all', (q) => q.where(anyId(plan.jobs as string[])))
    .orderBy('id')
    .execute();
  const jobEntry = bundle.entry('jobs.jsonl');
  const schemeIds = new Set(schemes.map((s) => s.id));
  const datasourceIds = new Set(datasources.map((d) => d.id));
  // A job keeps the ids of deleted schemes and sources: the bundle names only what it holds.
  for (const j of jobs)
    await jobEntry.writeLine({
      ...j,
      scheme_ids: j.scheme_ids.filter((id) => schemeIds.has(id)),
      datasource_ids: j.datasource_ids.filter((id) => datasourceIds.has(id)),
      record_ids: written ? j.record_ids.filter((id) => written.has(id)) : j.record_ids,
    });
  await jobEntry.close();
  counts.jobs = jobs.length;

  for (const j of jobs) {
    const entry = bundle.entry(`results/${j.id}.jsonl`);
    let after: string | undefined;
    for (;;) {
      const rows = await db
        .selectFrom('classification_results')
        .select(['id', 'record_id', 'scheme_id', 'value', 'justifications', 'provider', 'model'])
        .where('job_id', '=', j.id)
        .$if(plan.results !== undefined, (q) =>
          q.where(memberOf(plan.results!.membersOf, 'classification_results.record_id')),
        )
        .$if(after !== undefined, (q) => q.where('id', '>', after!))
        .orderBy('id')
        .limit(PAGE)
        .execute();
      for (const r of rows) await entry.writeLine(r);
      counts.results += rows.length;
      if (rows.length < PAGE) break;
      after = rows.at(-1)!.id;
    }
    await entry.close();
  }
  if (plan.datasets) await writeDatasets(db, workspaceId, plan.datasets, bundle, counts, schemeIds, jobs);
  return counts;
}

/**
 * Writes `datasets.jsonl` (each dataset with its schemes and jobs among the bundle's) and one
 * `members/<dataset>.jsonl` each, a page of record ids at a time.
 */
async function writeDatasets(
  db: Db,
  workspaceId: string,
  ids: 'all' | string[],
  bundle: BundleWriter,
  counts: BundleCounts,
  schemeIds: Set<string>,
  jobs: { id: string }[],
): Promise<void> {
  const jobIds = new Set(jobs.map((j) => j.id));
  const datasets = await db
    .selectFrom('datasets')
    .select(['id', 'name', 'description', 'custom_metadata'])
    .select((eb) => [
      eb.fn
        .coalesce(
          sql<
            string[]
          >`(select array_agg(scheme_id order by scheme_id) from dataset_schemes s where s.dataset_id = datasets.id)`,
          sql<string[]>`'{}'::uuid[]`,
        )
        .as('scheme_ids'),
      eb.fn
        .coalesce(
          sql<
            string[]
          >`(select array_agg(job_id order by job_id) from dataset_jobs j where j.dataset_id = datasets.id)`,
          sql<string[]>`'{}'::uuid[]`,
        )
        .as('job_ids'),
    ])
    .where('workspace_id', '=', workspaceId)
    .$if(ids !== 'all', (q) => q.where(anyId(ids as string[])))
    .orderBy('id')
    .execute();
  const entry = bundle.entry('datasets.jsonl');
  for (const d of datasets)
    await entry.writeLine({
      ...d,
      scheme_ids: d.scheme_ids.filter((id) => schemeIds.has(id)),
      job_ids: d.job_ids.filter((id) => jobIds.has(id)),
    });
  await entry.close();
  counts.datasets = datasets.length;
  counts.members = 0;
  for (const d of datasets) {
    const members = bundle.entry(`members/${d.id}.jsonl`);
    let after: { datasource_id: string; record_id: string } | undefined;
    for (;;) {
      // In the records' order (by source, then id), which an import keeps: ids it gives grow.
      const rows = await db
        .selectFrom('dataset_records as m')
        .innerJoin('records as r', 'r.id', 'm.record_id')
        .select(['m.record_id', 'r.datasource_id'])
        .where('m.dataset_id', '=', d.id)
        .$if(after !== undefined, (q) =>
          q.where(
            sql<boolean>`(r.datasource_id, r.id) > (${after!.datasource_id}::uuid, ${after!.record_id}::uuid)`,
          ),
        )
        .orderBy('r.datasource_id')
        .orderBy('r.id')
        .limit(PAGE)
        .execute();
      for (const r of rows) await members.writeLine({ record_id: r.record_id });
      counts.members += rows.length;
      if (rows.length < PAGE) break;
      after = rows.at(-1)!;
    }
    await members.close();
  }
}

/** A channel for a bundle being written, and the upload reading it. */
export function bundleOutput(objects: ObjectStore, key: string) {
  const out = new ByteChannel();
  const upload = objects.putStream(key, out, 'application/zip');
  // Caught here so an upload failing before the writer awaits it is no unhandled rejection.
  upload.catch(() => out.close());
  return { out, upload };
}
