/**
 * What the ingest and scale benchmarks share: a deterministic CSV, a datasource to ingest it
 * into, the worker run (ingest, then its search index step), and the two COPY anchors.
 */
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createReadStream, createWriteStream, readFileSync } from 'node:fs';
import { mkdir, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import pg from 'pg';
import { from as copyFrom, to as copyTo } from 'pg-copy-streams';
import type { Db } from '#lib/db/database.ts';
import type { DatasourceType } from '#lib/db/schema.ts';
import { newId } from '#lib/ids.ts';
import { type ProcessDatasource, uploadKey } from '#lib/ingest/messages.ts';
import type { LocalObjectStore } from '#lib/ports/objects/local.ts';
import { handleIngestMessage, type IngestDeps } from '#lib/services/ingestion.ts';
import { makeCsv } from '#test/support/fixtures.ts';

export const CSV_COLUMNS = ['id', 'name', 'email', 'city', 'created_at', 'note'];
/** The datasource options of the generated CSV. */
export const CSV_OPTIONS = { title_column: 'name', event_timestamp_column: 'created_at' };

export const now = () => performance.now();
export const mib = (kb: number) => `${(kb / 1024).toFixed(0)} MiB`;
export const rate = (n: number, ms: number) => (n / (ms / 1000)).toFixed(0);
export const seconds = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
/** Peak resident memory of this process so far, in KiB (it only goes up). */
export const peakRssKb = () => process.resourceUsage().maxRSS;

/** CPU seconds (user + system) this process has used so far. */
export const nodeCpuSeconds = () => {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1e6;
};

/** Fields 14-17 of /proc/<pid>/stat (utime, stime, and those of reaped children), in seconds. */
function procCpu(pid: number): { own: number; reaped: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat
    .slice(stat.lastIndexOf(')') + 2)
    .split(' ')
    .map(Number);
  const tick = 100; // USER_HZ on Linux
  return { own: (fields[11]! + fields[12]!) / tick, reaped: (fields[13]! + fields[14]!) / tick };
}

/**
 * CPU seconds used so far by the Postgres cluster under `clusterDir`: the postmaster, its
 * running children (backends, checkpointer, WAL writer...) and the children it reaped. Load
 * from other processes barely changes it, unlike wall time. Linux only (reads /proc).
 */
export async function postgresCpuSeconds(clusterDir: string): Promise<number> {
  const pid = Number((await readFile(path.join(clusterDir, 'postmaster.pid'), 'utf8')).split('\n')[0]);
  const main = procCpu(pid);
  const children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8')
    .trim()
    .split(' ')
    .filter(Boolean);
  let total = main.own + main.reaped;
  for (const child of children) {
    try {
      total += procCpu(Number(child)).own;
    } catch {
      // exited meanwhile: counted in `reaped` from the next reading on
    }
  }
  return total;
}

// --- Deterministic fake data -------------------------------------------------------------------

/** mulberry32: the same files on every run. */
function prng(seed: number) {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const random = prng(42);
const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;

const FIRST = ['Ann', 'Bob', 'Chloé', 'Dmitri', 'Eva', 'Farid', 'Grace', 'Hiro', 'Inès', 'Jonas', 'Kofi'];
const LAST = ['Andersen', 'Baker', "O'Brien", 'Dubois', 'Evans', 'García', 'Hansen', 'Ivanova', 'Jensen'];
const CITIES = ['Oslo', 'Paris', 'São Paulo', 'Washington, D.C.', 'Zürich', 'Kyoto', 'Lagos', 'Austin, TX'];
const WORDS = (
  'the customer reported that invoice delivery was late again and asked for a refund while support ' +
  'confirmed the order shipped from the warehouse on time but the carrier lost track of the parcel ' +
  'near the border so a replacement was sent with priority handling and a discount on the next order'
).split(' ');

export function sentence(min: number, max: number): string {
  const n = min + Math.floor(random() * (max - min + 1));
  const words = Array.from({ length: n }, (_, i) => {
    const word = pick(WORDS);
    return i > 0 && i < n - 1 && random() < 0.12 ? `${word},` : word;
  });
  const text = words.join(' ');
  return `${text[0]!.toUpperCase()}${text.slice(1)}.`;
}

function csvRow(i: number): string[] {
  const first = pick(FIRST);
  const last = pick(LAST);
  const created = new Date(Date.UTC(2024, 0, 1) + Math.floor(random() * 365 * 86_400_000));
  let note = `${sentence(6, 14)} ${sentence(4, 10)}`;
  if (random() < 0.1) note = `${note} Customer wrote: "${sentence(3, 6)}"`;
  return [
    String(i),
    `${last}, ${first}`,
    `${first}.${last}${i}@example.com`.toLowerCase().replace(/[^a-z0-9.@]/g, ''),
    pick(CITIES),
    created.toISOString(),
    note,
  ];
}

/**
 * Writes the CSV 1000 rows at a time (about 190 bytes a row; some fields quoted, as they hold
 * commas or doubled quotes). Row `i`'s email is `<first>.<last><i>@example.com`.
 */
export async function writeCsv(file: string, rows: number): Promise<void> {
  const out = createWriteStream(file);
  out.write(makeCsv([CSV_COLUMNS]));
  for (let start = 1; start <= rows; start += 1000) {
    const chunk = Array.from({ length: Math.min(1000, rows - start + 1) }, (_, j) => csvRow(start + j));
    if (!out.write(makeCsv(chunk))) await once(out, 'drain');
  }
  out.end();
  await once(out, 'finish');
}

export async function exited(child: ChildProcess): Promise<number> {
  const [code] = (await once(child, 'close')) as [number | null];
  return code ?? -1;
}

// --- Runs ----------------------------------------------------------------------------------------

/** A fresh user and workspace: a benchmark's tenant. */
export async function createWorkspace(db: Db): Promise<{ userId: string; workspaceId: string }> {
  const userId = newId();
  const workspaceId = newId();
  await db
    .insertInto('users')
    .values({ id: userId, email: `bench-${userId}@example.com`, hashed_password: 'x' })
    .execute();
  await db.insertInto('workspaces').values({ id: workspaceId, name: 'bench', owner_id: userId }).execute();
  return { userId, workspaceId };
}

/** A datasource of the workspace (a fresh one by default), its file already at its object key. */
export async function createDatasource(
  db: Db,
  objects: LocalObjectStore,
  type: DatasourceType,
  file: string,
  options: Record<string, unknown>,
  workspaceId?: string,
): Promise<ProcessDatasource> {
  const workspace = workspaceId ?? (await createWorkspace(db)).workspaceId;
  const id = newId();
  const runId = newId();
  const key = uploadKey(workspace, id, path.basename(file));
  const target = objects.pathOf(key);
  await mkdir(path.dirname(target), { recursive: true });
  await pipeline(createReadStream(file), createWriteStream(target));
  await db
    .insertInto('datasources')
    .values({
      id,
      workspace_id: workspace,
      name: path.basename(file),
      type,
      options: JSON.stringify(options),
      status: 'pending',
      metadata: '{}',
      run_id: runId,
      object_key: key,
    })
    .execute();
  return { kind: 'process_datasource', datasource_id: id, run_id: runId };
}

/** The ingest worker's settings for a benchmark, and the messages it sent (its index steps). */
export type BenchIngestDeps = IngestDeps & { sent: unknown[] };

/**
 * The ingest worker's settings for a benchmark. A large run asks for its index step
 * (`index_search`, a chain of messages); the benchmarks run and time them themselves.
 */
export function ingestDeps(db: Db, objects: LocalObjectStore, log: IngestDeps['log']): BenchIngestDeps {
  const sent: unknown[] = [];
  return {
    db,
    objects,
    queue: {
      send: async (_queue, messages) => {
        sent.push(...messages);
      },
    },
    log,
    settings: { ingestQueue: 'bench', maxUploadBytes: 2 ** 40, scraperAllowPrivateHosts: false },
    sent,
  };
}

/** CPU seconds spent in this process and in the Postgres cluster during a step. */
export type CpuTime = { node: number; postgres: number };

/** Measures the CPU time `step` takes in node and in the cluster under `clusterDir` (when given). */
async function cpuOf(clusterDir: string | undefined, step: () => Promise<void>): Promise<CpuTime> {
  const pg0 = clusterDir ? await postgresCpuSeconds(clusterDir) : 0;
  const node0 = nodeCpuSeconds();
  await step();
  const node = nodeCpuSeconds() - node0;
  return { node, postgres: clusterDir ? (await postgresCpuSeconds(clusterDir)) - pg0 : 0 };
}

/**
 * Runs the worker on the message and checks that the run completed with `expected` records;
 * then runs its search index step (when the run left one) and checks that it finished.
 * `ingestMs` is until the datasource is complete, `indexMs` the step after it; with the
 * cluster's folder, the CPU time of each in node and in Postgres too.
 */
export async function ingest(
  deps: BenchIngestDeps,
  message: ProcessDatasource,
  expected: number,
  clusterDir?: string,
): Promise<{ ingestMs: number; indexMs: number; ingestCpu: CpuTime; indexCpu: CpuTime }> {
  const start = now();
  const ingestCpu = await cpuOf(clusterDir, () => handleIngestMessage(deps, JSON.stringify(message)));
  const ingestMs = now() - start;
  const ds = await deps.db
    .selectFrom('datasources')
    .select(['status', 'record_count', 'error_message', 'search_status'])
    .where('id', '=', message.datasource_id)
    .executeTakeFirstOrThrow();
  if (ds.status !== 'complete' || ds.record_count !== expected) {
    throw new Error(
      `ingest ended ${ds.status} with ${ds.record_count} records, expected ${expected} (${ds.error_message ?? ''})`,
    );
  }
  const indexStart = now();
  const indexCpu = await cpuOf(clusterDir, async () => {
    // The run's index step, and each link of the chain it sends.
    for (let step = deps.sent.shift(); step; step = deps.sent.shift()) {
      await handleIngestMessage(deps, JSON.stringify(step));
    }
  });
  const indexMs = now() - indexStart;
  const after = await deps.db
    .selectFrom('datasources')
    .select('search_status')
    .where('id', '=', message.datasource_id)
    .executeTakeFirstOrThrow();
  if (after.search_status !== 'ready') throw new Error(`search still ${after.search_status}`);
  return { ingestMs, indexMs, ingestCpu, indexCpu };
}

/** Runs `body` on a client of its own, then closes it. */
export async function withClient<T>(url: string, body: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await body(client);
  } finally {
    await client.end();
  }
}

/** An anchor's time, and the CPU time Postgres spent on it (0 without the cluster's folder). */
export type AnchorRun = { ms: number; postgresCpu: number };

/** Times a COPY (`step`), in wall time and in the cluster's CPU time. */
async function timeCopy(clusterDir: string | undefined, step: () => Promise<void>): Promise<AnchorRun> {
  const cpu0 = clusterDir ? await postgresCpuSeconds(clusterDir) : 0;
  const start = now();
  await step();
  const ms = now() - start;
  return { ms, postgresCpu: clusterDir ? (await postgresCpuSeconds(clusterDir)) - cpu0 : 0 };
}

/** Anchor: COPY of the CSV file into a plain table with the CSV's columns, all text. */
export async function copyCsvFile(
  url: string,
  file: string,
  expected: number,
  clusterDir?: string,
): Promise<AnchorRun> {
  return withClient(url, async (client) => {
    const columns = CSV_COLUMNS.map((c) => `${c} text`).join(', ');
    await client.query(`CREATE TEMP TABLE bench_copy (${columns})`);
    const run = await timeCopy(clusterDir, () =>
      pipeline(
        createReadStream(file),
        client.query(
          copyFrom(`COPY bench_copy (${CSV_COLUMNS.join(', ')}) FROM STDIN WITH (FORMAT csv, HEADER true)`),
        ),
      ),
    );
    const { rows } = await client.query<{ n: number }>('SELECT count(*)::int AS n FROM bench_copy');
    if (rows[0]?.n !== expected) throw new Error(`COPY loaded ${rows[0]?.n} rows, expected ${expected}`);
    return run;
  });
}

const RECORD_COLUMNS = `id uuid, workspace_id uuid, datasource_id uuid, source_key text, title text,
  text_content text, source_metadata jsonb, event_timestamp timestamptz, content_hash text, seen_run uuid`;
const RECORD_NAMES = RECORD_COLUMNS.split(',').map((c) => c.trim().split(' ')[0]);

/**
 * Anchor: COPY of the rows docsift stored for a datasource (its records, read back to a file)
 * into a plain table with the same columns and types, without indexes or constraints: what
 * writing these bytes costs Postgres at the least. A record carries its row twice (the text,
 * and `source_metadata.row_data`), so they are about four times the CSV's bytes.
 */
export async function copyStoredRecords(
  url: string,
  datasourceId: string,
  dir: string,
  clusterDir?: string,
): Promise<AnchorRun> {
  const file = path.join(dir, `records-${datasourceId}.csv`);
  return withClient(url, async (client) => {
    await pipeline(
      client.query(
        copyTo(
          `COPY (SELECT ${RECORD_NAMES.join(', ')} FROM records WHERE datasource_id = '${datasourceId}')
           TO STDOUT WITH (FORMAT csv)`,
        ),
      ),
      createWriteStream(file),
    );
    await client.query(`CREATE TEMP TABLE bench_records (${RECORD_COLUMNS})`);
    const run = await timeCopy(clusterDir, () =>
      pipeline(
        createReadStream(file),
        client.query(copyFrom(`COPY bench_records FROM STDIN WITH (FORMAT csv)`)),
      ),
    );
    await rm(file, { force: true });
    return run;
  });
}
