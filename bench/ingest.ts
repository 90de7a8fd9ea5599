/**
 * Throughput of docsift's ingest worker against the fastest way to do the same job, measured in
 * the same run on the same files:
 *
 *   CSV  100,000 rows through handleIngestMessage (stream, parse, build records, insert in
 *        batches of 1000 in one transaction)  vs  Postgres COPY FROM STDIN of the same file
 *        into a plain table with the same columns.
 *   PDF  a 500-page PDF through handleIngestMessage (pdf.js text extraction, one record per
 *        page)  vs  poppler's `pdftotext` on the same file, process spawn included.
 *
 * Peak RSS is printed after each docsift run: streaming is meant to keep it flat.
 *
 *   npm run bench:ingest          (ROWS=100000 PAGES=500 to change the sizes)
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createReadStream, createWriteStream } from 'node:fs';
import { chmod, mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { createDb, type Db } from '#lib/db/database.ts';
import { startEmbeddedPostgres } from '#lib/db/embedded.ts';
import { migrateToLatest } from '#lib/db/migrate.ts';
import type { DatasourceType } from '#lib/db/schema.ts';
import { newId } from '#lib/ids.ts';
import { type ProcessDatasource, uploadKey } from '#lib/ingest/messages.ts';
import { logger } from '#lib/logger.ts';
import { LocalObjectStore } from '#lib/ports/objects/local.ts';
import { handleIngestMessage, type IngestDeps } from '#lib/services/ingestion.ts';
import { makeCsv, makePdf } from '#test/support/fixtures.ts';

const ROWS = Number(process.env.ROWS ?? 100_000);
const PAGES = Number(process.env.PAGES ?? 500);
const CSV_COLUMNS = ['id', 'name', 'email', 'city', 'created_at', 'note'];

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

function sentence(min: number, max: number): string {
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

/** Writes the CSV 1000 rows at a time. */
async function writeCsv(file: string, rows: number): Promise<void> {
  const out = createWriteStream(file);
  out.write(makeCsv([CSV_COLUMNS]));
  for (let start = 1; start <= rows; start += 1000) {
    const chunk = Array.from({ length: Math.min(1000, rows - start + 1) }, (_, j) => csvRow(start + j));
    if (!out.write(makeCsv(chunk))) await once(out, 'drain');
  }
  out.end();
  await once(out, 'finish');
}

/** One paragraph (~8 lines of ~90 characters) per page. */
function pdfPages(pages: number): string[] {
  return Array.from({ length: pages }, (_, p) => {
    const words = `Page ${p + 1}. ${Array.from({ length: 8 }, () => sentence(8, 16)).join(' ')}`.split(' ');
    const lines: string[] = [];
    let line = '';
    for (const word of words) {
      if (line && line.length + word.length + 1 > 90) {
        lines.push(line);
        line = word;
      } else line = line ? `${line} ${word}` : word;
    }
    lines.push(line);
    return lines.join('\n');
  });
}

// Child mode: writes the files in a process of its own, so that generating them (pdf-lib holds
// the whole document; the CSV's strings make V8 grow its heap) does not count in this process's
// peak RSS, which would hide the ingest's own.
if (process.argv[2] === '--make-files') {
  const [csv, pdf, rows, pages] = process.argv.slice(3) as [string, string, string, string];
  await writeCsv(csv, Number(rows));
  await writeFile(pdf, await makePdf(pdfPages(Number(pages))));
  process.exit(0);
}

// --- Helpers -------------------------------------------------------------------------------------

logger.setLogLevel('ERROR');
process.env.LOG_LEVEL = 'ERROR';

const now = () => performance.now();
const mib = (kb: number) => `${(kb / 1024).toFixed(0)} MiB`;
const rate = (n: number, ms: number) => (n / (ms / 1000)).toFixed(0);
const peakRss = () => mib(process.resourceUsage().maxRSS);

async function exited(child: ChildProcess): Promise<number> {
  const [code] = (await once(child, 'close')) as [number | null];
  return code ?? -1;
}

async function makeFiles(csv: string, pdf: string): Promise<void> {
  const args = [
    '--import',
    'tsx',
    import.meta.filename,
    '--make-files',
    csv,
    pdf,
    String(ROWS),
    String(PAGES),
  ];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'inherit'] });
  if ((await exited(child)) !== 0) throw new Error('generating the files failed');
}

/** A datasource owned by a fresh user and workspace, its file already at its object key. */
async function createDatasource(
  db: Db,
  objects: LocalObjectStore,
  type: DatasourceType,
  file: string,
  options: Record<string, unknown>,
): Promise<ProcessDatasource> {
  const userId = newId();
  const workspaceId = newId();
  const id = newId();
  const runId = newId();
  const key = uploadKey(workspaceId, id, path.basename(file));
  const target = objects.pathOf(key);
  await mkdir(path.dirname(target), { recursive: true });
  await pipeline(createReadStream(file), createWriteStream(target));
  await db
    .insertInto('users')
    .values({ id: userId, email: `bench-${userId}@example.com`, hashed_password: 'x' })
    .execute();
  await db.insertInto('workspaces').values({ id: workspaceId, name: 'bench', owner_id: userId }).execute();
  await db
    .insertInto('datasources')
    .values({
      id,
      workspace_id: workspaceId,
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

/** Runs the worker on the message and checks that the run completed with `expected` records. */
async function ingest(deps: IngestDeps, message: ProcessDatasource, expected: number): Promise<number> {
  const start = now();
  await handleIngestMessage(deps, JSON.stringify(message));
  const ms = now() - start;
  const ds = await deps.db
    .selectFrom('datasources')
    .select(['status', 'record_count', 'error_message'])
    .where('id', '=', message.datasource_id)
    .executeTakeFirstOrThrow();
  if (ds.status !== 'complete' || ds.record_count !== expected) {
    throw new Error(
      `ingest ended ${ds.status} with ${ds.record_count} records, expected ${expected} (${ds.error_message ?? ''})`,
    );
  }
  return ms;
}

/** COPY of the file into a plain table with the CSV's columns, all text: the anchor. */
async function copyCsv(url: string, file: string, expected: number): Promise<number> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const columns = CSV_COLUMNS.map((c) => `${c} text`).join(', ');
    await client.query(`CREATE TABLE bench_copy (${columns})`);
    const start = now();
    await pipeline(
      createReadStream(file),
      client.query(
        copyFrom(`COPY bench_copy (${CSV_COLUMNS.join(', ')}) FROM STDIN WITH (FORMAT csv, HEADER true)`),
      ),
    );
    const ms = now() - start;
    const { rows } = await client.query<{ n: number }>('SELECT count(*)::int AS n FROM bench_copy');
    if (rows[0]?.n !== expected) throw new Error(`COPY loaded ${rows[0]?.n} rows, expected ${expected}`);
    return ms;
  } finally {
    await client.end();
  }
}

/** pdftotext on the file, spawn included; undefined when poppler-utils is not installed. */
async function pdftotext(file: string, pages: number): Promise<number | undefined> {
  const start = now();
  const child = spawn('pdftotext', ['-q', file, '-'], { stdio: ['ignore', 'pipe', 'inherit'] });
  let formFeeds = 0;
  child.stdout.on('data', (chunk: Buffer) => {
    for (const byte of chunk) if (byte === 0x0c) formFeeds++;
  });
  // undefined: the binary is not there.
  const code = await new Promise<number | undefined>((resolve, reject) => {
    child.once('error', (error: NodeJS.ErrnoException) =>
      error.code === 'ENOENT' ? resolve(undefined) : reject(error),
    );
    child.once('close', (exitCode) => resolve(exitCode ?? -1));
  });
  const ms = now() - start;
  if (code === undefined) return undefined;
  if (code !== 0) throw new Error(`pdftotext exited with ${code}`);
  // pdftotext ends every page with a form feed.
  if (formFeeds !== pages) throw new Error(`pdftotext gave ${formFeeds} pages, expected ${pages}`);
  return ms;
}

// --- The run -------------------------------------------------------------------------------------

const dir = await mkdtemp(path.join(tmpdir(), 'docsift-bench-ingest-'));
// Postgres runs as user `postgres` when we are root: it must be able to enter the directory.
await chmod(dir, 0o755);
try {
  const csvFile = path.join(dir, 'bench.csv');
  const pdfFile = path.join(dir, 'bench.pdf');
  await makeFiles(csvFile, pdfFile);
  const sizes = { csv: (await stat(csvFile)).size, pdf: (await stat(pdfFile)).size };
  console.log(
    `files: ${ROWS} CSV rows (${(sizes.csv / 2 ** 20).toFixed(1)} MiB), ${PAGES} PDF pages ` +
      `(${(sizes.pdf / 2 ** 20).toFixed(1)} MiB); peak RSS before ingesting: ${peakRss()}`,
  );

  const database = await startEmbeddedPostgres(path.join(dir, 'db'));
  const db = createDb(database.url);
  try {
    await migrateToLatest(db);
    const objects = new LocalObjectStore(path.join(dir, 'objects'), 'http://127.0.0.1:0', 'bench');
    const deps: IngestDeps = {
      db,
      objects,
      queue: {
        send: async () => {
          throw new Error('CSV and PDF ingestion sends no message');
        },
      },
      log: logger,
      settings: { ingestQueue: 'x', maxUploadBytes: 2 ** 40, scraperAllowPrivateHosts: false },
    };

    // CSV
    const csvMessage = await createDatasource(db, objects, 'csv', csvFile, {
      title_column: 'name',
      event_timestamp_column: 'created_at',
    });
    const csvMs = await ingest(deps, csvMessage, ROWS);
    const csvRss = peakRss();
    const copyMs = await copyCsv(database.url, csvFile, ROWS);
    console.log('\nCSV');
    console.log(
      `  docsift ingest:         ${rate(ROWS, csvMs).padStart(8)} rows/s  (${(csvMs / 1000).toFixed(2)} s)`,
    );
    console.log(
      `  COPY FROM STDIN:        ${rate(ROWS, copyMs).padStart(8)} rows/s  (${(copyMs / 1000).toFixed(2)} s)`,
    );
    console.log(`  ratio (docsift / COPY): ${(copyMs / csvMs).toFixed(3)}`);
    console.log(`  peak RSS after the CSV ingest: ${csvRss}`);

    // PDF
    const pdfMessage = await createDatasource(db, objects, 'pdf', pdfFile, {});
    const pdfMs = await ingest(deps, pdfMessage, PAGES);
    const pdfRss = peakRss();
    const popplerMs = await pdftotext(pdfFile, PAGES);
    console.log('\nPDF');
    console.log(
      `  docsift ingest:              ${rate(PAGES, pdfMs).padStart(6)} pages/s  (${(pdfMs / 1000).toFixed(2)} s)`,
    );
    if (popplerMs === undefined) {
      console.log('  pdftotext: not installed, no ratio (apt-get install poppler-utils)');
    } else {
      console.log(
        `  pdftotext (spawn included):  ${rate(PAGES, popplerMs).padStart(6)} pages/s  (${(popplerMs / 1000).toFixed(2)} s)`,
      );
      console.log(`  ratio (docsift / pdftotext): ${(popplerMs / pdfMs).toFixed(3)}`);
    }
    console.log(`  peak RSS after the PDF ingest: ${pdfRss}`);
  } finally {
    await db.destroy();
    await database.stop();
  }
} finally {
  await rm(dir, { recursive: true, force: true });
}
