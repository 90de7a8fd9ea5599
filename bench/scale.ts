/**
 * How docsift grows from 10,000 to 1,000,000 records, on the embedded database: at each size
 * one workspace with one CSV datasource of that many rows, and
 *
 *   ingest   the CSV through the ingest worker, until complete, then its search index step
 *            (until every record is findable by `q`); peak RSS of the worker's process
 *   search   `q` over the workspace through the records list (50 a page, with its count):
 *            p50 and p95 over a mix of rare, common, phrase and two-word queries
 *   plan     a job of one scheme over every record, planned alone (the planner's chain of
 *            `plan_job` messages, each a chunk): time, and the messages it sends
 *   claim    classify messages delivered twice at once, the fake provider at zero latency:
 *            provider calls per item (must be exactly 1; measures whatever claim the
 *            classify worker has)
 *   export   a result per record (written in SQL), exported as CSV by the ingest worker's
 *            export step, streamed to the local object store: time and peak RSS of its process
 *
 * and the growth factor between sizes: linear is 10× a step. The worker steps whose memory is
 * measured run in a child process each, so that one size's peak does not hide the next.
 *
 *   npm run bench:scale                 (10k, 100k, 1M: minutes)
 *   npm run bench:scale -- --max 100000 (a quick run)
 */
import { spawn } from 'node:child_process';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { sql } from 'kysely';
import type { ClassifyItems, ClassifyMessage } from '#lib/classify/messages.ts';
import { createDb, DB_ROLES, type Db } from '#lib/db/database.ts';
import { startEmbeddedPostgres } from '#lib/db/embedded.ts';
import { migrateToLatest } from '#lib/db/migrate.ts';
import { newId } from '#lib/ids.ts';
import { logger } from '#lib/logger.ts';
import { providersFromEnv } from '#lib/ports/llm/index.ts';
import { LocalObjectStore } from '#lib/ports/objects/local.ts';
import { runExport } from '#lib/services/bundles.ts';
import { handleClassifyMessage } from '#lib/services/classification.ts';
import { createExport } from '#lib/services/exports.ts';
import { insertJob } from '#lib/services/jobs.ts';
import { listRecords } from '#lib/services/records.ts';
import { startFakeLlm } from '#test/support/fake-llm.ts';
import {
  CSV_OPTIONS,
  createDatasource,
  exited,
  ingest,
  ingestDeps,
  now,
  peakRssKb,
  seconds,
  writeCsv,
} from './support/csv-ingest.ts';

logger.setLogLevel('ERROR');
process.env.LOG_LEVEL = 'ERROR';
// The classify worker's metrics (EMF lines on stdout) are not this benchmark's output.
process.env.POWERTOOLS_METRICS_DISABLED = 'true';

const SIZES = [10_000, 100_000, 1_000_000];
/** Classify messages delivered twice in the claim step (5 items each). */
const DUPLICATED_MESSAGES = 100;
/** The worker roles' limits, without the statement timeout: the steps here are whole runs. */
const WORKER_DB = { ...DB_ROLES.ingest, statementTimeoutMs: 0 };

type Child = { kind: 'files'; file: string; rows: number } | ChildRun;
type ChildRun =
  | { kind: 'ingest'; url: string; objects: string; file: string; rows: number }
  | { kind: 'export'; url: string; objects: string; exportId: string };
type Measured = { ms: number; extraMs?: number; peakMb: number; baseMb: number; [key: string]: unknown };

// --- Child processes: one step each, so its peak RSS is its own -------------------------------

async function child(job: Child): Promise<void> {
  if (job.kind === 'files') return writeCsv(job.file, job.rows);
  const baseKb = peakRssKb();
  const db = createDb(job.url, WORKER_DB);
  const objects = new LocalObjectStore(job.objects, 'http://127.0.0.1:0', 'bench');
  try {
    let out: { ms: number } & Record<string, unknown>;
    if (job.kind === 'ingest') {
      const message = await createDatasource(db, objects, 'csv', job.file, CSV_OPTIONS);
      const { ingestMs, indexMs } = await ingest(ingestDeps(db, objects, logger), message, job.rows);
      out = { ms: ingestMs, extraMs: indexMs, datasourceId: message.datasource_id };
    } else {
      const start = now();
      await runExport(
        {
          db,
          objects,
          log: logger,
          settings: {
            ingestQueue: 'bench',
            maxUploadBytes: 0,
            maxUncompressedBytes: 0,
            uploadUrlExpireSeconds: 0,
          },
        },
        job.exportId,
      );
      const ms = now() - start;
      const row = await db
        .selectFrom('bundle_exports')
        .selectAll()
        .where('id', '=', job.exportId)
        .executeTakeFirstOrThrow();
      if (row.status !== 'complete') throw new Error(`export ${row.status}: ${row.error_message}`);
      out = { ms, bytes: Number(row.bytes), results: row.counts.results };
    }
    process.stdout.write(
      JSON.stringify({ ...out, peakMb: peakRssKb() / 1024, baseMb: baseKb / 1024 } satisfies Measured),
    );
  } finally {
    await db.destroy();
  }
}

if (process.argv[2] === '--child') {
  await child(JSON.parse(process.argv[3]!) as Child);
  process.exit(0);
}

/** Runs one step in a child process and answers what it printed. */
async function inChild<T = Measured>(job: Child): Promise<T> {
  const proc = spawn(
    process.execPath,
    ['--import', 'tsx', import.meta.filename, '--child', JSON.stringify(job)],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  let out = '';
  proc.stdout.on('data', (chunk: Buffer) => {
    out += chunk.toString();
  });
  if ((await exited(proc)) !== 0) throw new Error(`the ${job.kind} step failed`);
  return (out ? JSON.parse(out) : {}) as T;
}

// --- Steps in this process ----------------------------------------------------------------------

const percentile = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;

/** `q` over the workspace as its owner: p50 and p95 of a mix of queries, 10 rounds. */
async function searchLatency(db: Db, owner: string, workspaceId: string, rows: number) {
  const queries = [
    `ann.baker${Math.ceil(rows / 2)}@example.com`, // one record (or none: names are random)
    'oslo', // about one in eight
    'refund', // most records
    '"carrier lost"', // a phrase
    'invoice parcel', // two words
  ];
  const times: number[] = [];
  let matches = 0;
  for (let round = 0; round < 10; round++) {
    for (const q of queries) {
      const start = now();
      const page = await listRecords(db, { id: owner }, workspaceId, { q, limit: 50 });
      times.push(now() - start);
      matches += page.count;
    }
  }
  if (matches === 0) throw new Error('no query found anything');
  times.sort((a, b) => a - b);
  return { p50: percentile(times, 0.5), p95: percentile(times, 0.95) };
}

/**
 * A job over every record of the datasource, planned alone: each `plan_job` is handled as the
 * classify worker would, the next one taken from what it sent. Keeps the first classify
 * messages for the claim step.
 */
async function plan(db: Db, workspaceId: string, datasourceId: string, schemeId: string) {
  const pending: ClassifyMessage[] = [];
  const kept: ClassifyItems[] = [];
  let messages = 0;
  let items = 0;
  const queue = {
    send: async (_queue: string, sent: unknown[]) => {
      for (const m of sent as ClassifyMessage[]) {
        messages++;
        if (m.kind === 'plan_job') pending.push(m);
        else if (m.kind === 'classify_items') {
          items += m.items.length;
          if (kept.length < DUPLICATED_MESSAGES) kept.push(m);
        }
      }
    },
  };
  const deps = { db, queue, log: logger, provider: () => undefined, settings: { classifyQueue: 'bench' } };
  const start = now();
  const job = await insertJob(
    db,
    queue,
    workspaceId,
    {
      name: 'scale',
      scheme_ids: [schemeId],
      datasource_ids: [datasourceId],
      provider: 'openai',
      model: 'fake-model',
      options: {},
    },
    { classifyQueue: 'bench' },
  );
  for (let next = pending.shift(); next; next = pending.shift()) {
    await handleClassifyMessage(deps, JSON.stringify(next));
  }
  const ms = now() - start;
  const planned = await db
    .selectFrom('classification_jobs')
    .select(['planned_at', 'status'])
    .where('id', '=', job.id)
    .executeTakeFirstOrThrow();
  if (!planned.planned_at) throw new Error(`planning did not finish (${planned.status})`);
  return { jobId: job.id, ms, messages, items, kept };
}

/** Each kept classify message delivered twice at once; provider calls per item. */
async function duplicatedDeliveries(db: Db, kept: ClassifyItems[]) {
  const fake = await startFakeLlm();
  process.env.OPENAI_BASE_URL = `${fake.url}/v1`;
  process.env.OPENAI_MODELS = 'fake-model';
  process.env.OPENAI_API_KEY = 'bench';
  const providers = providersFromEnv();
  try {
    const deps = {
      db,
      queue: { send: async () => {} },
      log: logger,
      provider: (name: string) => providers.providers.get(name),
      settings: { classifyQueue: 'bench', cancelPollMs: 60_000 },
    };
    for (const message of kept) {
      const body = JSON.stringify(message);
      await Promise.all([handleClassifyMessage(deps, body), handleClassifyMessage(deps, body)]);
    }
    const items = kept.reduce((n, m) => n + m.items.length, 0);
    const perItem = new Map<string, number>();
    for (const r of fake.requests) {
      const key = fake.recordText(r.userText);
      perItem.set(key, (perItem.get(key) ?? 0) + 1);
    }
    const results = await db
      .selectFrom('classification_results')
      .select(sql<number>`count(*)::int`.as('n'))
      .where('job_id', '=', kept[0]!.job_id)
      .executeTakeFirstOrThrow();
    if (results.n !== items) throw new Error(`${results.n} results for ${items} items`);
    return { items, calls: fake.requests.length, maxPerItem: Math.max(...perItem.values()) };
  } finally {
    await fake.close();
  }
}

/** One result per planned item still without one, in SQL: what an export of the whole job reads. */
async function fillResults(db: Db, workspaceId: string, jobId: string) {
  await sql`
    INSERT INTO classification_results (id, workspace_id, job_id, record_id, scheme_id, value, justifications, provider, model)
    SELECT uuidv7(), ${workspaceId}, i.job_id, i.record_id, i.scheme_id,
      jsonb_build_object('calm', (hashtext(i.record_id::text) % 2 = 0)), '{}', 'openai', 'fake-model'
    FROM classification_items i
    WHERE i.job_id = ${jobId}
    ORDER BY i.record_id
    ON CONFLICT (job_id, record_id, scheme_id) DO NOTHING`.execute(db);
}

// --- The run --------------------------------------------------------------------------------------

function maxSize(): number {
  const at = process.argv.indexOf('--max');
  return at > 0 ? Number(process.argv[at + 1]) : Number.POSITIVE_INFINITY;
}

type Row = {
  rows: number;
  ingest: Measured;
  search: { p50: number; p95: number };
  plan: { ms: number; messages: number; items: number };
  claim: { items: number; calls: number; maxPerItem: number };
  exported: Measured;
};

const sizes = SIZES.filter((n) => n <= maxSize());
const dir = await mkdtemp(path.join(tmpdir(), 'docsift-bench-scale-'));
// Postgres runs as user `postgres` when we are root: it must be able to enter the directory.
await chmod(dir, 0o755);
const load = () =>
  loadavg()
    .map((l) => l.toFixed(1))
    .join(' ');
console.log(`load average at start: ${load()} (the machine's other work slows every figure alike)`);
const database = await startEmbeddedPostgres(path.join(dir, 'db'));
const db = createDb(database.url, WORKER_DB);
const table: Row[] = [];
try {
  await migrateToLatest(db);
  const objects = path.join(dir, 'objects');
  for (const rows of sizes) {
    console.log(`\n${rows.toLocaleString('en')} records`);
    const file = path.join(dir, `scale-${rows}.csv`);
    await inChild({ kind: 'files', file, rows });
    const ingestRun = await inChild({ kind: 'ingest', url: database.url, objects, file, rows });
    await rm(file);
    const datasourceId = ingestRun.datasourceId as string;
    console.log(`  ingest ${seconds(ingestRun.ms)}, index step ${seconds(ingestRun.extraMs!)}`);
    const ds = await db
      .selectFrom('datasources as d')
      .innerJoin('workspaces as w', 'w.id', 'd.workspace_id')
      .select(['d.workspace_id', 'w.owner_id'])
      .where('d.id', '=', datasourceId)
      .executeTakeFirstOrThrow();
    const search = await searchLatency(db, ds.owner_id, ds.workspace_id, rows);
    console.log(`  search p50 ${search.p50.toFixed(0)} ms, p95 ${search.p95.toFixed(0)} ms`);

    const schemeId = newId();
    await db
      .insertInto('classification_schemes')
      .values({
        id: schemeId,
        workspace_id: ds.workspace_id,
        name: 'Tone',
        fields: JSON.stringify([{ name: 'calm', description: 'Is it calm', type: 'bool' }]),
      })
      .execute();
    const planned = await plan(db, ds.workspace_id, datasourceId, schemeId);
    console.log(`  plan ${seconds(planned.ms)}: ${planned.messages} messages for ${planned.items} items`);
    const claim = await duplicatedDeliveries(db, planned.kept);
    console.log(`  claim: ${claim.calls} provider calls for ${claim.items} items delivered twice`);

    await fillResults(db, ds.workspace_id, planned.jobId);
    // As autovacuum would have long before a real export: written over hours by the workers.
    await sql`VACUUM ANALYZE classification_results`.execute(db);
    const exportRow = await createExport(
      db,
      { send: async () => {} },
      { id: ds.owner_id },
      ds.workspace_id,
      { type: 'classification_job', resource_id: planned.jobId, format: 'csv' },
      { ingestQueue: 'bench' },
    );
    const exported = await inChild({ kind: 'export', url: database.url, objects, exportId: exportRow.id });
    if (exported.results !== rows) throw new Error(`exported ${exported.results} results of ${rows}`);
    console.log(`  export ${seconds(exported.ms)}, ${((exported.bytes as number) / 2 ** 20).toFixed(0)} MiB`);
    table.push({ rows, ingest: ingestRun, search, plan: planned, claim, exported });
    // The next size starts from a clean slate: another workspace, and no vacuum debt.
    await sql`VACUUM ANALYZE`.execute(db);
  }
  printTable(table);
  console.log(`\nload average at the end: ${load()}`);
} finally {
  await db.destroy();
  await database.stop();
  await rm(dir, { recursive: true, force: true });
}

function printTable(rows: Row[]) {
  const lines: [string, (r: Row) => number, (v: number) => string][] = [
    ['CSV ingest (until complete)', (r) => r.ingest.ms, (v) => seconds(v)],
    ['  its search index step', (r) => r.ingest.extraMs!, (v) => seconds(v)],
    ['  peak RSS of the worker', (r) => r.ingest.peakMb, (v) => `${v.toFixed(0)} MiB`],
    ['q search p50', (r) => r.search.p50, (v) => `${v.toFixed(0)} ms`],
    ['q search p95', (r) => r.search.p95, (v) => `${v.toFixed(0)} ms`],
    ['job planning (1 scheme)', (r) => r.plan.ms, (v) => seconds(v)],
    ['  messages sent', (r) => r.plan.messages, (v) => v.toFixed(0)],
    ['provider calls per item, twice delivered', (r) => r.claim.calls / r.claim.items, (v) => v.toFixed(3)],
    ['export of every result (CSV)', (r) => r.exported.ms, (v) => seconds(v)],
    ['  peak RSS of the worker', (r) => r.exported.peakMb, (v) => `${v.toFixed(0)} MiB`],
  ];
  const short = (n: number) => (n >= 1_000_000 ? `${n / 1_000_000}M` : `${n / 1000}k`);
  const head = [
    '',
    ...rows.map((r) => r.rows.toLocaleString('en')),
    ...rows.slice(1).map((r, i) => `${short(rows[i]!.rows)}→${short(r.rows)}`),
  ];
  console.log(`\n${head.map((h, i) => (i === 0 ? h.padEnd(42) : h.padStart(11))).join('')}`);
  for (const [label, value, format] of lines) {
    const values = rows.map(value);
    const growth = values.slice(1).map((v, i) => (values[i]! > 0 ? `${(v / values[i]!).toFixed(1)}×` : '—'));
    console.log(
      `${label.padEnd(42)}${[...values.map(format), ...growth].map((c) => c.padStart(11)).join('')}`,
    );
  }
  console.log(
    `\n(a→b: growth from size a to size b; linear is 10×. Peak RSS includes a baseline of about ` +
      `${rows[0]!.ingest.baseMb.toFixed(0)} MiB, the loaded modules; the claim step's worst item got ` +
      `${Math.max(...rows.map((r) => r.claim.maxPerItem))} calls)`,
  );
}
