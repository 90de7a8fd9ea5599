/**
 * Bundle export and import rates of a workspace of RECORDS records (default 100,000) with a job
 * holding one result per record, against Postgres's own bulk paths measured in the same run:
 *
 *   export  runExport (one snapshot, keyset pages, JSONL, deflate, streamed to the store)
 *           vs  COPY (records ⋈ results) TO STDOUT through zlib's deflate into a file.
 *   import  runImport (two passes: verify, then remap and insert in one transaction)
 *           vs  COPY FROM STDIN of the same rows into plain tables without indexes.
 *
 * Peak RSS is printed after each: both sides stream, so it should stay flat as RECORDS grows.
 *
 *   npx tsx bench/bundles.ts          (RECORDS=20000 for a quick run)
 */
import { createWriteStream } from 'node:fs';
import { chmod, mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createDeflateRaw } from 'node:zlib';
import { sql } from 'kysely';
import pg from 'pg';
import { from as copyFrom, to as copyTo } from 'pg-copy-streams';
import { importKey } from '#lib/bundles/keys.ts';
import { loadConfig, setConfig } from '#lib/config.ts';
import { createDb, DB_ROLES } from '#lib/db/database.ts';
import { startEmbeddedPostgres } from '#lib/db/embedded.ts';
import { migrateToLatest } from '#lib/db/migrate.ts';
import { newId } from '#lib/ids.ts';
import { logger } from '#lib/logger.ts';
import { LocalObjectStore } from '#lib/ports/objects/local.ts';
import { runExport, runImport } from '#lib/services/bundles.ts';

const RECORDS = Number(process.env.RECORDS ?? 100_000);
logger.setLogLevel('ERROR');
const now = () => performance.now();
const mib = (kb: number) => `${(kb / 1024).toFixed(0)} MiB`;
const peakRss = () => mib(process.resourceUsage().maxRSS);
const rate = (n: number, ms: number) => (n / (ms / 1000)).toFixed(0);

const dir = await mkdtemp(path.join(tmpdir(), 'docsift-bench-bundles-'));
// Run as root, Postgres runs as user postgres and must reach its folder.
await chmod(dir, 0o755);
setConfig(
  loadConfig({ DATA_DIR: dir, SECRET_KEY: 'bench-secret-key-that-is-long-enough-0123', LOG_LEVEL: 'ERROR' }),
);
const database = await startEmbeddedPostgres(path.join(dir, 'db'));
const db = createDb(database.url, DB_ROLES.ingest);
try {
  await migrateToLatest(db);
  const objects = new LocalObjectStore(path.join(dir, 'objects'), 'http://127.0.0.1:0', 'bench');
  const settings = {
    ingestQueue: 'x',
    maxUploadBytes: 2 ** 40,
    maxUncompressedBytes: 2 ** 40,
    uploadUrlExpireSeconds: 60,
  };
  const deps = { db, objects, log: logger, settings };

  const userId = newId();
  const source = newId();
  await db
    .insertInto('users')
    .values({ id: userId, email: 'bench@example.com', hashed_password: 'x' })
    .execute();
  await db.insertInto('workspaces').values({ id: source, name: 'Source', owner_id: userId }).execute();
  const dsId = newId();
  const schemeId = newId();
  const jobId = newId();
  await db
    .insertInto('datasources')
    .values({
      id: dsId,
      workspace_id: source,
      name: 'CSV',
      type: 'csv',
      options: '{}',
      status: 'complete',
      metadata: '{}',
      run_id: newId(),
    })
    .execute();
  await db
    .insertInto('classification_schemes')
    .values({
      id: schemeId,
      workspace_id: source,
      name: 'Tone',
      fields: JSON.stringify([{ name: 'n', description: 'n', type: 'int', scale_min: 1, scale_max: 5 }]),
    })
    .execute();
  await db
    .insertInto('classification_jobs')
    .values({
      id: jobId,
      workspace_id: source,
      name: 'Run',
      status: 'completed',
      scheme_ids: [schemeId],
      provider: 'openai',
      model: 'm',
      options: '{}',
    })
    .execute();
  // Rows made in SQL (uuidv7-like ordered ids from the sequence), about 300 bytes of text each.
  const t0 = now();
  await sql`INSERT INTO records (id, workspace_id, datasource_id, source_key, title, text_content, source_metadata, content_hash)
    SELECT (lpad(to_hex(i), 8, '0') || '-0000-7000-8000-' || lpad(to_hex(i), 12, '0'))::uuid, ${source}, ${dsId},
           'row-' || i, 'Title ' || i,
           'Record ' || i || ': the customer reported that invoice delivery was late again and asked for a refund while support confirmed the order shipped on time but the carrier lost the parcel near the border ' || md5(i::text),
           jsonb_build_object('row', i), md5(i::text)
    FROM generate_series(1, ${RECORDS}) i`.execute(db);
  await sql`INSERT INTO classification_results (id, workspace_id, job_id, record_id, scheme_id, value, justifications, provider, model)
    SELECT (lpad(to_hex(i), 8, '0') || '-0000-7000-9000-' || lpad(to_hex(i), 12, '0'))::uuid, ${source}, ${jobId},
           (lpad(to_hex(i), 8, '0') || '-0000-7000-8000-' || lpad(to_hex(i), 12, '0'))::uuid, ${schemeId},
           jsonb_build_object('n', 1 + i % 5), '{}', 'openai', 'm'
    FROM generate_series(1, ${RECORDS}) i`.execute(db);
  await sql`UPDATE datasources SET record_count = ${RECORDS} WHERE id = ${dsId}`.execute(db);
  console.log(
    `workspace: ${RECORDS} records, ${RECORDS} results (made in ${((now() - t0) / 1000).toFixed(1)} s); peak RSS ${peakRss()}`,
  );

  // docsift export
  const exportId = newId();
  await db
    .insertInto('bundle_exports')
    .values({
      id: exportId,
      workspace_id: source,
      user_id: userId,
      type: 'workspace',
      resource_id: source,
      include_files: false,
      status: 'pending',
    })
    .execute();
  let start = now();
  await runExport(deps, exportId);
  const exportMs = now() - start;
  const exported = await db
    .selectFrom('bundle_exports')
    .selectAll()
    .where('id', '=', exportId)
    .executeTakeFirstOrThrow();
  if (exported.status !== 'complete') throw new Error(`export ${exported.status}: ${exported.error_message}`);
  const exportRss = peakRss();

  // anchor: COPY of the same rows out, deflated
  const client = new pg.Client({ connectionString: database.url });
  await client.connect();
  start = now();
  await pipeline(
    client.query(
      copyTo(`COPY (SELECT r.id, r.source_key, r.title, r.text_content, r.source_metadata, c.value
                    FROM records r JOIN classification_results c ON c.record_id = r.id WHERE r.workspace_id = '${source}')
              TO STDOUT`),
    ),
    createDeflateRaw({ level: 6 }),
    createWriteStream(path.join(dir, 'anchor.deflate')),
  );
  const copyOutMs = now() - start;

  // docsift import, into a new workspace
  const target = newId();
  await db.insertInto('workspaces').values({ id: target, name: 'Target', owner_id: userId }).execute();
  const importId = newId();
  const key = importKey(target, importId);
  await objects.copy(exported.object_key!, key);
  await db
    .insertInto('bundle_imports')
    .values({ id: importId, workspace_id: target, user_id: userId, status: 'pending', object_key: key })
    .execute();
  start = now();
  await runImport(deps, { importId, key });
  const importMs = now() - start;
  const imported = await db
    .selectFrom('bundle_imports')
    .selectAll()
    .where('id', '=', importId)
    .executeTakeFirstOrThrow();
  if (imported.status !== 'complete') throw new Error(`import ${imported.status}: ${imported.error_message}`);
  const importRss = peakRss();

  // anchor: COPY of the same rows in, plain tables
  await client.query(
    'CREATE TABLE plain_records (id uuid, source_key text, title text, text_content text, source_metadata jsonb, value jsonb)',
  );
  const rows = path.join(dir, 'rows.tsv');
  await pipeline(
    client.query(
      copyTo(
        `COPY (SELECT r.id, r.source_key, r.title, r.text_content, r.source_metadata, c.value FROM records r JOIN classification_results c ON c.record_id = r.id WHERE r.workspace_id = '${source}') TO STDOUT`,
      ),
    ),
    createWriteStream(rows),
  );
  start = now();
  const { createReadStream } = await import('node:fs');
  await pipeline(createReadStream(rows), client.query(copyFrom('COPY plain_records FROM STDIN')));
  const copyInMs = now() - start;
  await client.end();

  const bytes = (await stat(objects.pathOf(exported.object_key!))).size;
  console.log(`\nbundle: ${(bytes / 2 ** 20).toFixed(1)} MiB, counts ${JSON.stringify(imported.counts)}`);
  console.log('\nexport');
  console.log(
    `  docsift:  ${rate(RECORDS, exportMs)} records/s (${(exportMs / 1000).toFixed(1)} s), peak RSS ${exportRss}`,
  );
  console.log(`  COPY out + deflate: ${rate(RECORDS, copyOutMs)} records/s`);
  console.log(`  ratio (docsift / COPY): ${(copyOutMs / exportMs).toFixed(3)}`);
  console.log('import');
  console.log(
    `  docsift:  ${rate(RECORDS, importMs)} records/s (${(importMs / 1000).toFixed(1)} s), peak RSS ${importRss}`,
  );
  console.log(`  COPY in (plain table): ${rate(RECORDS, copyInMs)} records/s`);
  console.log(`  ratio (docsift / COPY): ${(copyInMs / importMs).toFixed(3)}`);
} finally {
  await db.destroy();
  await database.stop();
  await rm(dir, { recursive: true, force: true });
}
