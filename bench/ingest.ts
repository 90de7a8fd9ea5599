/**
 * Throughput of docsift's ingest worker against the fastest way to do the same job, measured in
 * the same run on the same files:
 *
 *   CSV  100,000 rows through handleIngestMessage (stream, parse, build records, insert in
 *        batches of 1000 in one transaction; then the search index step)  vs  two COPY anchors:
 *        the CSV file into a plain table with the CSV's columns, and the rows docsift stored
 *        into a plain table with the records' columns (no indexes, no constraints).
 *   PDF  a 500-page PDF through handleIngestMessage (pdf.js text extraction, one record per
 *        page)  vs  poppler's `pdftotext` on the same file, process spawn included.
 *
 * Peak RSS is printed after each docsift run: streaming is meant to keep it flat.
 *
 *   npm run bench:ingest   (ROWS=100000 PAGES=500 REPEAT=3: sizes, and best of how many runs)
 */
import { spawn } from 'node:child_process';
import { chmod, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createDb, DB_ROLES } from '#lib/db/database.ts';
import { startEmbeddedPostgres } from '#lib/db/embedded.ts';
import { migrateToLatest } from '#lib/db/migrate.ts';
import { logger } from '#lib/logger.ts';
import { LocalObjectStore } from '#lib/ports/objects/local.ts';
import { makePdf } from '#test/support/fixtures.ts';
import {
  type AnchorRun,
  type CpuTime,
  CSV_OPTIONS,
  copyCsvFile,
  copyStoredRecords,
  createDatasource,
  exited,
  ingest,
  ingestDeps,
  mib,
  now,
  peakRssKb,
  rate,
  seconds,
  sentence,
  writeCsv,
} from './support/csv-ingest.ts';

const ROWS = Number(process.env.ROWS ?? 100_000);
const PAGES = Number(process.env.PAGES ?? 500);
const REPEAT = Number(process.env.REPEAT ?? 3);

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

const peakRss = () => mib(peakRssKb());
/** The best of `REPEAT` runs (time and CPU each): other processes only ever make a run slower. */
async function best(runs: number, run: () => Promise<AnchorRun>): Promise<AnchorRun> {
  let min = { ms: Number.POSITIVE_INFINITY, postgresCpu: Number.POSITIVE_INFINITY };
  for (let i = 0; i < runs; i++) {
    const next = await run();
    min = { ms: Math.min(min.ms, next.ms), postgresCpu: Math.min(min.postgresCpu, next.postgresCpu) };
  }
  return min;
}
const cpuMin = (a: CpuTime, b: CpuTime): CpuTime => ({
  node: Math.min(a.node, b.node),
  postgres: Math.min(a.postgres, b.postgres),
});
const cpuText = (cpu: CpuTime) => `CPU ${cpu.node.toFixed(2)} s node, ${cpu.postgres.toFixed(2)} s Postgres`;

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
  // The ingest worker's limits: a run's COPY is one statement, as long as the file takes to read.
  const db = createDb(database.url, DB_ROLES.ingest);
  try {
    await migrateToLatest(db);
    const objects = new LocalObjectStore(path.join(dir, 'objects'), 'http://127.0.0.1:0', 'bench');
    const deps = ingestDeps(db, objects, logger);

    // CSV: each run into a datasource of its own; the best of REPEAT for docsift and each anchor.
    const none = { node: Number.POSITIVE_INFINITY, postgres: Number.POSITIVE_INFINITY };
    let csv = {
      ingestMs: Number.POSITIVE_INFINITY,
      indexMs: Number.POSITIVE_INFINITY,
      ingestCpu: none,
      indexCpu: none,
    };
    let lastDatasource = '';
    for (let i = 0; i < REPEAT; i++) {
      const message = await createDatasource(db, objects, 'csv', csvFile, CSV_OPTIONS);
      const run = await ingest(deps, message, ROWS, database.dir);
      csv = {
        ingestMs: Math.min(csv.ingestMs, run.ingestMs),
        indexMs: Math.min(csv.indexMs, run.indexMs),
        ingestCpu: cpuMin(csv.ingestCpu, run.ingestCpu),
        indexCpu: cpuMin(csv.indexCpu, run.indexCpu),
      };
      lastDatasource = message.datasource_id;
    }
    const csvRss = peakRss();
    const copyFile = await best(REPEAT, () => copyCsvFile(database.url, csvFile, ROWS, database.dir));
    const copyRecords = await best(REPEAT, () =>
      copyStoredRecords(database.url, lastDatasource, dir, database.dir),
    );
    const line = (label: string, ms: number, cpu: string) =>
      console.log(`  ${label.padEnd(44)} ${rate(ROWS, ms).padStart(8)} rows/s  (${seconds(ms)}; ${cpu})`);
    const anchorCpu = (run: AnchorRun) => `CPU ${run.postgresCpu.toFixed(2)} s Postgres`;
    console.log(`\nCSV (best of ${REPEAT})`);
    line('docsift ingest (until complete):', csv.ingestMs, cpuText(csv.ingestCpu));
    line('  then its search index step:', csv.indexMs, cpuText(csv.indexCpu));
    line('COPY of the file, plain table (CSV columns):', copyFile.ms, anchorCpu(copyFile));
    line('COPY of the stored rows, plain table:', copyRecords.ms, anchorCpu(copyRecords));
    console.log(`  ratio (docsift / COPY of the file):        ${(copyFile.ms / csv.ingestMs).toFixed(3)}`);
    console.log(`  ratio (docsift / COPY of the stored rows): ${(copyRecords.ms / csv.ingestMs).toFixed(3)}`);
    console.log(
      `  ratio with the index step (stored rows):   ${(copyRecords.ms / (csv.ingestMs + csv.indexMs)).toFixed(3)}`,
    );
    console.log(`  peak RSS after the CSV ingests: ${csvRss}`);

    // PDF
    const pdfMessage = await createDatasource(db, objects, 'pdf', pdfFile, {});
    const { ingestMs: pdfMs } = await ingest(deps, pdfMessage, PAGES);
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
