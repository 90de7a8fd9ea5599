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
 * type is one exporter below that picks these; the writers are shared. Datasets plug in here:
 * an exporter of their own, plus their entries.
 */
export type ExportPlan = {
  schemes: 'all' | string[];
  datasources: 'all' | string[];
  /** Every record of the datasources, or only those a job's results refer to. */
  records: 'all' | { resultsOf: string };
  jobs: 'all' | string[];
};

type Exporter = (db: Db, workspaceId: string, resourceId: string | undefined) => Promise<ExportPlan>;

async function requireRow(
  db: Db,
  table: 'datasources' | 'classification_schemes' | 'classification_jobs',
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
  workspace: async () => ({ schemes: 'all', datasources: 'all', records: 'all', jobs: 'all' }),
};

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
        .$if(plan.records !== 'all', (q) =>
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
      for (const r of rows)
        await entry.writeLine({ ...r, event_timestamp: r.event_timestamp?.toISOString() ?? null });
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
  for (const j of jobs) await jobEntry.writeLine(j);
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
  return counts;
}

/** A channel for a bundle being written, and the upload reading it. */
export function bundleOutput(objects: ObjectStore, key: string) {
  const out = new ByteChannel();
  const upload = objects.putStream(key, out, 'application/zip');
  // Caught here so an upload failing before the writer awaits it is no unhandled rejection.
  upload.catch(() => out.close());
  return { out, upload };
}
