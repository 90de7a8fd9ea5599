import { createHash } from 'node:crypto';
import type { z } from 'zod';
import { PLAN_DONE } from '#lib/classify/messages.ts';
import { SchemeDefinition } from '#lib/classify/scheme-definition.ts';
import type { Db } from '#lib/db/database.ts';
import { unstorableText } from '#lib/http/middleware/validate.ts';
import { newId } from '#lib/ids.ts';
import { contentHash } from '#lib/ingest/content-hash.ts';
import { datasourceFolder, storedFileKey, uploadKey } from '#lib/ingest/messages.ts';
import type { ObjectStore } from '#lib/ports/objects/store.ts';
import { indexRecords } from '#lib/services/record-search.ts';
import { BundleError } from './errors.ts';
import type { EntryKind } from './format.ts';
import { DatasetRow, DatasourceRow, JobRow, MemberRow, RecordRow, ResultRow, SchemeRow } from './rows.ts';

/** What an import added, by kind (`schemes_reused`: identical schemes of the target taken instead). */
export type ImportCounts = Record<string, number>;

const BATCH = 1000;
const FINISHED_JOB = new Set([
  'completed',
  'completed_with_errors',
  'failed',
  'cancelled',
  'budget_exceeded',
]);

/** Keys sorted at every level: the same content always serialises the same way. */
function canonical(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonical);
  if (value && typeof value === 'object')
    return Object.fromEntries(
      Object.keys(value)
        .sort()
        .map((k) => [k, canonical((value as Record<string, unknown>)[k])]),
    );
  return value;
}

/** A scheme's identity for reuse: its fields and instructions, never its name. */
export function schemeContentHash(fields: unknown, instructions: string | null | undefined): string {
  return createHash('sha256')
    .update(JSON.stringify(canonical({ fields, model_instructions: instructions || null })))
    .digest('hex');
}

/** A free name: `name`, else `name (2)`, `name (3)`… among `taken` (which it joins). */
function freeName(taken: Set<string>, name: string): string {
  let candidate = name;
  for (let n = 2; taken.has(candidate); n += 1) candidate = `${name.slice(0, 240)} (${n})`;
  taken.add(candidate);
  return candidate;
}

/**
 * One import into one workspace, inside the caller's transaction: every row gets a new id,
 * and every reference (a job's datasources and schemes, a result's record) is remapped
 * through what this bundle has already brought. A reference to something the bundle does not
 * hold (before it) is a {@link BundleError}. Rows come in batches; {@link endEntry} flushes.
 */
export class ImportSession {
  readonly counts: ImportCounts = {
    schemes: 0,
    schemes_reused: 0,
    datasources: 0,
    records: 0,
    files: 0,
    jobs: 0,
    results: 0,
    datasets: 0,
    members: 0,
  };
  private readonly schemes = new Map<string, string>();
  private readonly datasources = new Map<string, { id: string; runId: string; file: string | null }>();
  private readonly records = new Map<string, string>();
  private readonly jobs = new Map<string, string>();
  private readonly datasets = new Map<string, string>();
  private pending: { kind: EntryKind; rows: unknown[] } | undefined;
  private names?: {
    datasources: Set<string>;
    schemes: Set<string>;
    jobs: Set<string>;
    datasets: Set<string>;
  };
  private schemeHashes?: Map<string, string>;
  /** Folders that received files: deleted if the transaction does not commit. */
  readonly storedFolders: string[] = [];

  constructor(
    private readonly trx: Db,
    private readonly objects: ObjectStore,
    readonly workspaceId: string,
  ) {}

  private async taken() {
    if (!this.names) {
      const names = async (
        table: 'datasources' | 'classification_schemes' | 'classification_jobs' | 'datasets',
      ) =>
        new Set(
          (
            await this.trx
              .selectFrom(table)
              .select('name')
              .where('workspace_id', '=', this.workspaceId)
              .execute()
          ).map((r) => r.name),
        );
      this.names = {
        datasources: await names('datasources'),
        schemes: await names('classification_schemes'),
        jobs: await names('classification_jobs'),
        datasets: await names('datasets'),
      };
    }
    return this.names;
  }

  /** Parses a row of an entry, with the entry and line in the reason when it is not one. */
  private parse<S extends z.ZodType>(schema: S, row: unknown, where: string): z.output<S> {
    const parsed = schema.safeParse(row);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      throw new BundleError(`${where}: ${issue.path.join('.') || 'row'}: ${issue.message}`);
    }
    const unstorable = unstorableText('body', parsed.data)[0];
    if (unstorable) throw new BundleError(`${where}: ${unstorable.path}: ${unstorable.message}`);
    return parsed.data;
  }

  /** Takes one row of an entry (`where` names it for reasons: `records/x.jsonl line 3`). */
  async row(kind: EntryKind, row: unknown, where: string): Promise<void> {
    if (this.pending && this.pending.kind !== kind) await this.flush();
    this.pending ??= { kind, rows: [] };
    switch (kind.kind) {
      case 'schemes':
        return this.scheme(this.parse(SchemeRow, row, where), where);
      case 'datasources':
        return this.datasource(this.parse(DatasourceRow, row, where));
      case 'jobs':
        return this.job(this.parse(JobRow, row, where), where);
      case 'datasets':
        return this.dataset(this.parse(DatasetRow, row, where), where);
      case 'members':
        this.pending.rows.push(this.parse(MemberRow, row, where));
        break;
      case 'records':
        this.pending.rows.push(this.parse(RecordRow, row, where));
        break;
      case 'results':
        this.pending.rows.push(this.parse(ResultRow, row, where));
        break;
      case 'file':
        throw new BundleError(`${where}: files hold bytes, not rows`);
    }
    if (this.pending.rows.length >= BATCH) await this.flush();
  }

  /** The end of an entry: its last batch goes in. */
  async endEntry(): Promise<void> {
    await this.flush();
  }

  private async flush(): Promise<void> {
    const batch = this.pending;
    this.pending = undefined;
    if (!batch || batch.rows.length === 0) return;
    if (batch.kind.kind === 'records') await this.insertRecords(batch.kind.owner, batch.rows as RecordRow[]);
    if (batch.kind.kind === 'results') await this.insertResults(batch.kind.owner, batch.rows as ResultRow[]);
    if (batch.kind.kind === 'members') await this.insertMembers(batch.kind.owner, batch.rows as MemberRow[]);
  }

  private async scheme(row: SchemeRow, where: string): Promise<void> {
    if (this.schemes.has(row.id)) throw new BundleError(`${where}: scheme ${row.id} appears twice`);
    const definition = SchemeDefinition.safeParse({
      name: row.name,
      description: row.description ?? '',
      ...(row.model_instructions ? { model_instructions: row.model_instructions } : {}),
      fields: row.fields,
    });
    if (!definition.success) {
      const issue = definition.error.issues[0]!;
      throw new BundleError(
        `${where}: scheme ${JSON.stringify(row.name)}: ${issue.path.join('.')}: ${issue.message}`,
      );
    }
    const d = definition.data;
    if (!this.schemeHashes) {
      const existing = await this.trx
        .selectFrom('classification_schemes')
        .select(['id', 'fields', 'model_instructions'])
        .where('workspace_id', '=', this.workspaceId)
        .orderBy('id')
        .execute();
      this.schemeHashes = new Map();
      for (const s of existing) {
        const hash = schemeContentHash(s.fields, s.model_instructions);
        if (!this.schemeHashes.has(hash)) this.schemeHashes.set(hash, s.id);
      }
    }
    const hash = schemeContentHash(d.fields, d.model_instructions);
    const same = this.schemeHashes.get(hash);
    if (same) {
      this.schemes.set(row.id, same);
      this.counts.schemes_reused! += 1;
      return;
    }
    const id = newId();
    await this.trx
      .insertInto('classification_schemes')
      .values({
        id,
        workspace_id: this.workspaceId,
        name: freeName((await this.taken()).schemes, d.name),
        description: d.description ?? '',
        model_instructions: d.model_instructions ?? null,
        fields: JSON.stringify(d.fields),
      })
      .execute();
    this.schemeHashes.set(hash, id);
    this.schemes.set(row.id, id);
    this.counts.schemes! += 1;
  }

  private async datasource(row: DatasourceRow): Promise<void> {
    if (this.datasources.has(row.id))
      throw new BundleError(`datasources.jsonl: datasource ${row.id} appears twice`);
    const id = newId();
    const runId = newId();
    // A source caught mid-run is imported failed: its run cannot continue here.
    const finished = row.status === 'complete' || row.status === 'failed';
    await this.trx
      .insertInto('datasources')
      .values({
        id,
        workspace_id: this.workspaceId,
        name: freeName((await this.taken()).datasources, row.name),
        type: row.type,
        options: JSON.stringify(row.options),
        status: finished ? (row.status as 'complete' | 'failed') : 'failed',
        error_message: finished ? (row.error_message ?? null) : `Exported while ${row.status}`,
        metadata: JSON.stringify(row.metadata),
        run_id: runId,
        object_key: null,
      })
      .execute();
    this.datasources.set(row.id, { id, runId, file: row.file ?? null });
    this.counts.datasources! += 1;
  }

  private async insertRecords(owner: string, rows: RecordRow[]): Promise<void> {
    const source = this.datasources.get(owner);
    if (!source)
      throw new BundleError(
        `records/${owner}.jsonl: datasource ${owner} is not in the bundle (missing reference)`,
      );
    const values = rows.map((r) => {
      if (this.records.has(r.id))
        throw new BundleError(`records/${owner}.jsonl: record ${r.id} appears twice`);
      const id = newId();
      this.records.set(r.id, id);
      return {
        id,
        workspace_id: this.workspaceId,
        datasource_id: source.id,
        source_key: r.source_key,
        title: r.title ?? null,
        text_content: r.text_content,
        source_metadata: JSON.stringify(r.source_metadata),
        event_timestamp: r.event_timestamp ? new Date(r.event_timestamp) : null,
        content_hash: contentHash(r.text_content),
        appended: r.appended,
        seen_run: r.appended ? null : source.runId,
      };
    });
    await this.trx.insertInto('records').values(values).execute();
    await indexRecords(this.trx, { datasourceId: source.id, ids: values.map((v) => v.id) });
    await this.trx
      .updateTable('datasources')
      .set((eb) => ({ record_count: eb('record_count', '+', values.length) }))
      .where('id', '=', source.id)
      .execute();
    this.counts.records! += values.length;
  }

  /** A datasource's original file: streamed to a key of the new datasource's own. */
  async file(kind: Extract<EntryKind, { kind: 'file' }>, bytes: AsyncIterable<Uint8Array>): Promise<void> {
    await this.flush();
    const source = this.datasources.get(kind.owner);
    if (!source)
      throw new BundleError(
        `files/${kind.owner}/${kind.name}: datasource ${kind.owner} is not in the bundle (missing reference)`,
      );
    if (source.file !== kind.name)
      throw new BundleError(`files/${kind.owner}/${kind.name}: datasource ${kind.owner} names no such file`);
    const key = storedFileKey(uploadKey(this.workspaceId, source.id, kind.name));
    this.storedFolders.push(datasourceFolder(this.workspaceId, source.id));
    await this.objects.putStream(key, bytes);
    await this.trx.updateTable('datasources').set({ object_key: key }).where('id', '=', source.id).execute();
    this.counts.files! += 1;
  }

  private mapAll(
    ids: string[],
    map: Map<string, string> | Map<string, { id: string }>,
    what: string,
    where: string,
  ) {
    return ids.map((old) => {
      const found = map.get(old);
      if (!found) throw new BundleError(`${where}: ${what} ${old} is not in the bundle (missing reference)`);
      return typeof found === 'string' ? found : found.id;
    });
  }

  private async job(row: JobRow, where: string): Promise<void> {
    if (this.jobs.has(row.id)) throw new BundleError(`${where}: job ${row.id} appears twice`);
    const schemeIds = [...new Set(this.mapAll(row.scheme_ids, this.schemes, 'scheme', where))];
    const datasourceIds = this.mapAll(row.datasource_ids, this.datasources, 'datasource', where);
    const recordIds = this.mapAll(row.record_ids, this.records, 'record', where);
    // Record-id bounds of the target (recurring tasks' jobs) point at this bundle's records, or go.
    const options = { ...row.options };
    for (const key of ['record_id_after', 'record_id_until']) {
      const old = options[key];
      if (typeof old !== 'string') continue;
      const mapped = this.records.get(old);
      if (mapped) options[key] = mapped;
      else delete options[key];
    }
    const finished = FINISHED_JOB.has(row.status);
    const id = newId();
    await this.trx
      .insertInto('classification_jobs')
      .values({
        id,
        workspace_id: this.workspaceId,
        name: freeName((await this.taken()).jobs, row.name),
        description: row.description ?? null,
        status: finished ? (row.status as 'completed') : 'cancelled',
        scheme_ids: schemeIds,
        datasource_ids: datasourceIds,
        record_ids: recordIds,
        provider: row.provider,
        model: row.model,
        options: JSON.stringify(options),
        error_message: finished ? (row.error_message ?? null) : `Exported while ${row.status}`,
        finished_at: new Date(),
        // Nothing left to plan: the job's items are its imported results.
        plan_cursor: PLAN_DONE,
        planned_at: new Date(),
      })
      .execute();
    this.jobs.set(row.id, id);
    this.counts.jobs! += 1;
  }

  private async insertResults(owner: string, rows: ResultRow[]): Promise<void> {
    const job = this.jobs.get(owner);
    const where = `results/${owner}.jsonl`;
    if (!job) throw new BundleError(`${where}: job ${owner} is not in the bundle (missing reference)`);
    const values = rows.map((r) => {
      const record = this.records.get(r.record_id);
      if (!record)
        throw new BundleError(`${where}: record ${r.record_id} is not in the bundle (missing reference)`);
      const scheme = this.schemes.get(r.scheme_id);
      if (!scheme)
        throw new BundleError(`${where}: scheme ${r.scheme_id} is not in the bundle (missing reference)`);
      return {
        id: newId(),
        workspace_id: this.workspaceId,
        job_id: job,
        record_id: record,
        scheme_id: scheme,
        value: JSON.stringify(r.value),
        justifications: JSON.stringify(r.justifications),
        provider: r.provider,
        model: r.model,
      };
    });
    await this.trx.insertInto('classification_results').values(values).execute();
    // Each result is a succeeded work item, so the job's progress counts it.
    await this.trx
      .insertInto('classification_items')
      .values(
        values.map((v) => ({
          job_id: v.job_id,
          record_id: v.record_id,
          scheme_id: v.scheme_id,
          status: 'succeeded' as const,
        })),
      )
      .onConflict((oc) => oc.doNothing())
      .execute();
    this.counts.results! += values.length;
  }

  private async dataset(row: DatasetRow, where: string): Promise<void> {
    if (this.datasets.has(row.id)) throw new BundleError(`${where}: dataset ${row.id} appears twice`);
    // Reused schemes can make two of the bundle's one of the target's.
    const schemeIds = [...new Set(this.mapAll(row.scheme_ids, this.schemes, 'scheme', where))];
    const jobIds = [...new Set(this.mapAll(row.job_ids, this.jobs, 'job', where))];
    const id = newId();
    await this.trx
      .insertInto('datasets')
      .values({
        id,
        workspace_id: this.workspaceId,
        name: freeName((await this.taken()).datasets, row.name),
        description: row.description ?? null,
        custom_metadata: JSON.stringify(row.custom_metadata),
      })
      .execute();
    if (schemeIds.length > 0)
      await this.trx
        .insertInto('dataset_schemes')
        .values(schemeIds.map((scheme_id) => ({ dataset_id: id, scheme_id })))
        .execute();
    if (jobIds.length > 0)
      await this.trx
        .insertInto('dataset_jobs')
        .values(jobIds.map((job_id) => ({ dataset_id: id, job_id })))
        .execute();
    this.datasets.set(row.id, id);
    this.counts.datasets! += 1;
  }

  private async insertMembers(owner: string, rows: MemberRow[]): Promise<void> {
    const where = `members/${owner}.jsonl`;
    const dataset = this.datasets.get(owner);
    if (!dataset)
      throw new BundleError(`${where}: dataset ${owner} is not in the bundle (missing reference)`);
    const values = rows.map((r) => {
      const record = this.records.get(r.record_id);
      if (!record)
        throw new BundleError(`${where}: record ${r.record_id} is not in the bundle (missing reference)`);
      return { dataset_id: dataset, record_id: record };
    });
    await this.trx.insertInto('dataset_records').values(values).execute();
    this.counts.members! += values.length;
  }

  /** Flushes the last batch. */
  async finish(): Promise<void> {
    await this.flush();
  }
}
