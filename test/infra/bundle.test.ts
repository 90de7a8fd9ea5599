import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { App, Stack } from 'aws-cdk-lib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Api } from '#infra/constructs/api.ts';
import { PROJECT_ROOT } from '#infra/constructs/app-function.ts';
import { CLASSIFY_WORKER_TIMEOUT, Classify } from '#infra/constructs/classify.ts';
import { Database } from '#infra/constructs/database.ts';
import { INGEST_WORKER_TIMEOUT, Ingest } from '#infra/constructs/ingest.ts';
import { Llm } from '#infra/constructs/llm.ts';
import { Network } from '#infra/constructs/network.ts';
import { DEAD_LETTER_WORKER_TIMEOUT } from '#infra/constructs/queue-worker.ts';
import { Queues } from '#infra/constructs/queues.ts';
import { Scheduler, TASK_WORKER_TIMEOUT } from '#infra/constructs/scheduler.ts';
import { Secrets } from '#infra/constructs/secrets.ts';
import { Storage } from '#infra/constructs/storage.ts';
import { routeId } from '#infra/naming.ts';
import type { Route } from '#lib/http/route.ts';
import { system } from '#lib/http/routes.ts';
import { PDF_LIMITS } from '#lib/ingest/pdf.ts';
import { makePdf } from '#test/support/fixtures.ts';
import { makePdfBomb } from '#test/support/pdf-bomb.ts';
import { cdkJsonContext, flatten } from './stack.ts';

// Bundles for real, through the same Api construct as the stack, but only two routes: the
// health check (pg and its CommonJS requires in an ESM bundle) and the docs asset (files
// copied beside the bundle by the afterBundling hook, found through import.meta.url).
const bundled: Route[] = [system.health, system.docsAsset];
// And the queue workers, through the same Ingest and Classify constructs: the ingest worker
// carries the PDF (pdf.js, through unpdf), CSV and HTML parsers, the classify worker the LLM
// providers (undici, the Bedrock client left external), the task dispatcher the scraper and feed
// reader, each bundled into one ESM file that loads.
const workers = [
  'IngestWorker',
  'IngestDeadLetters',
  'ClassifyWorker',
  'ClassifyDeadLetters',
  'SchedulerWorker',
  'SchedulerDeadLetters',
] as const;

// Inside the project, so the bundle's external @aws-sdk imports resolve from node_modules as
// they resolve from the runtime in Lambda.
const cacheDir = path.join(PROJECT_ROOT, 'node_modules', '.cache');
let outdir: string;
let bundleDirs: Map<string, string>;
let workerDirs: Map<(typeof workers)[number], string>;

beforeAll(() => {
  mkdirSync(cacheDir, { recursive: true });
  outdir = mkdtempSync(path.join(cacheDir, 'docsift-bundle-test-'));
  const app = new App({ outdir, context: cdkJsonContext() });
  const stack = new Stack(app, 'BundleTest');
  const network = new Network(stack, 'Network');
  const database = new Database(stack, 'Database', { vpc: network.vpc });
  const queues = new Queues(stack, 'Queues', {
    ingest: { consumerTimeout: INGEST_WORKER_TIMEOUT, deadLetterConsumerTimeout: DEAD_LETTER_WORKER_TIMEOUT },
    classify: {
      consumerTimeout: CLASSIFY_WORKER_TIMEOUT,
      deadLetterConsumerTimeout: DEAD_LETTER_WORKER_TIMEOUT,
    },
    tasks: { consumerTimeout: TASK_WORKER_TIMEOUT, deadLetterConsumerTimeout: DEAD_LETTER_WORKER_TIMEOUT },
  });
  const llm = new Llm(stack, 'Llm');
  const storage = new Storage(stack, 'Storage', { corsOrigins: [], uploadsQueue: queues.ingest });
  const common = {
    vpc: network.vpc,
    securityGroup: network.functionsSecurityGroup,
    database,
    storage,
    queues,
  };
  const scheduler = new Scheduler(stack, 'Scheduler', { ...common, llm });
  new Api(stack, 'Api', {
    ...common,
    routes: bundled,
    llm,
    taskAccess: scheduler,
    jwtSigningKey: new Secrets(stack, 'Secrets').jwtSigningKey,
    corsOrigins: [],
    settings: {},
  });
  new Ingest(stack, 'Ingest', common);
  new Classify(stack, 'Classify', { ...common, llm });
  // The routes' functions are in their area's nested stack: look in every stack.
  const functions = Object.entries(flatten(stack).findResources('AWS::Lambda::Function'));
  const assetDir = (idPrefix: string) => {
    const [, fn] = functions.find(([id]) => id.startsWith(idPrefix))!;
    const hash = (fn.Properties.Code.S3Key as string).replace(/\.zip$/, '');
    return path.join(outdir, `asset.${hash}`);
  };
  bundleDirs = new Map(bundled.map((route) => [route.handler, assetDir(routeId(route))]));
  workerDirs = new Map(workers.map((worker) => [worker, assetDir(worker)]));
}, 120_000);

afterAll(() => {
  if (outdir) rmSync(outdir, { recursive: true, force: true });
});

/** Runs an ESM script in a fresh Node process with the Lambda-like environment, returning its stdout. */
async function runNode(script: string, args: string[]): Promise<string> {
  const { stdout } = await promisify(execFile)(
    process.execPath,
    // As Lambda runs them: no --enable-source-maps (the bundles map stacks themselves).
    ['--input-type=module', '-e', script, ...args],
    {
      env: {
        PATH: process.env.PATH,
        PLATFORM: 'aws',
        LOG_LEVEL: 'SILENT',
        // Nothing listens on port 9: the pool is created, every connection is refused.
        DATABASE_URL: 'postgres://docsift:unused@127.0.0.1:9/docsift',
        SECRET_KEY: 'k'.repeat(40),
        UPLOADS_BUCKET: 'bundle-test',
        INGEST_QUEUE: 'bundle-test',
        AWS_REGION: 'us-east-1',
      },
      timeout: 30_000,
    },
  );
  return stdout;
}

/**
 * Imports a bundle in a fresh Node process, as Lambda's runtime does (no test runner in
 * between), and calls one export with an HTTP API v2 event.
 */
async function invoke(route: Route, rawPath: string, pathParameters: Record<string, string> = {}) {
  const bundle = pathToFileURL(path.join(bundleDirs.get(route.handler)!, 'index.mjs')).href;
  const exportName = route.handler.split('.')[1]!;
  const event = {
    version: '2.0',
    routeKey: `${route.method} ${route.path}`,
    rawPath,
    rawQueryString: '',
    headers: {},
    pathParameters,
    isBase64Encoded: false,
    requestContext: { requestId: 'bundle-test', http: { method: route.method, path: rawPath } },
  };
  const script = `
    const [bundle, exportName, event] = process.argv.slice(1);
    const handler = (await import(bundle))[exportName];
    const result = await handler(JSON.parse(event), { awsRequestId: 'bundle-test', functionName: 'bundle-test' });
    // Exit only once the (large, base64) result has left: pipe writes are asynchronous.
    process.stdout.write(JSON.stringify(result), () => process.exit(0));`;
  const stdout = await runNode(script, [bundle, exportName, JSON.stringify(event)]);
  return JSON.parse(stdout) as {
    statusCode: number;
    headers: Record<string, string>;
    body: string;
    isBase64Encoded?: boolean;
  };
}

describe('ESM bundles', () => {
  it('puts Swagger UI beside the docs-asset bundle only', () => {
    expect(readdirSync(bundleDirs.get(system.docsAsset.handler)!).sort()).toEqual([
      'chunks',
      'index.mjs',
      'index.mjs.map',
      'swagger-ui',
    ]);
    expect(readdirSync(path.join(bundleDirs.get(system.docsAsset.handler)!, 'swagger-ui')).sort()).toEqual([
      'swagger-ui-bundle.js',
      'swagger-ui.css',
    ]);
    expect(readdirSync(bundleDirs.get(system.health.handler)!)).not.toContain('swagger-ui');
  });

  it('serves a Swagger UI asset from the bundle', { timeout: 30_000 }, async () => {
    const result = await invoke(system.docsAsset, '/docs/swagger-ui.css', { asset: 'swagger-ui.css' });
    expect(result.statusCode).toBe(200);
    expect(result.headers['content-type']).toMatch(/^text\/css/);
    expect(result.isBase64Encoded).toBe(true);
    expect(Buffer.from(result.body, 'base64').toString('utf8')).toContain('.swagger-ui');
  });

  it('answers the health check with a 503 problem when the database is unreachable', {
    timeout: 30_000,
  }, async () => {
    const result = await invoke(system.health, '/api/v1/healthz');
    expect(result.statusCode).toBe(503);
    expect(result.headers['content-type']).toBe('application/problem+json');
    expect(JSON.parse(result.body)).toMatchObject({ status: 503, title: 'Service Unavailable' });
  });

  it('loads each queue worker from its bundle, exporting its handler', { timeout: 60_000 }, async () => {
    // Six functions, six bundles: an id prefix matching two functions would test one twice.
    expect(new Set(workerDirs.values()).size).toBe(workers.length);
    for (const worker of workers) {
      const dir = workerDirs.get(worker)!;
      // The bundle and its lazily loaded chunks: nothing copied beside them that the stack would not ship.
      expect(readdirSync(dir).sort(), worker).toEqual(['chunks', 'index.mjs', 'index.mjs.map']);
      const bundle = pathToFileURL(path.join(dir, 'index.mjs')).href;
      // Importing evaluates every module the bundle holds (pdf.js among them in the worker),
      // which is where a bundling mistake shows: a file expected beside the bundle, a require
      // of a module left out. Generic on purpose: any handler implementation passes or fails
      // on its bundle alone.
      const script = `
        const mod = await import(process.argv[1]);
        process.stdout.write(JSON.stringify({ handler: typeof mod.handler }));`;
      expect(JSON.parse(await runNode(script, [bundle])), worker).toEqual({ handler: 'function' });
    }
  });

  it("extracts PDFs in a worker thread that runs the ingest bundle's PDF chunk", {
    timeout: 60_000,
  }, async () => {
    // extractPdf starts a Worker on its own module, which in Lambda is the chunk holding it,
    // loaded (with pdf.js) only when a PDF arrives: the chunk must serve extraction when loaded
    // that way. Spoken to here as extractPdf does.
    const dir = workerDirs.get('IngestWorker')!;
    const holdsPdfWorker = (file: string) => readFileSync(file, 'utf8').includes('docsiftPdfWorker');
    expect(holdsPdfWorker(path.join(dir, 'index.mjs'))).toBe(false);
    const chunks = readdirSync(path.join(dir, 'chunks'))
      .filter((file) => file.endsWith('.mjs'))
      .map((file) => path.join(dir, 'chunks', file))
      .filter(holdsPdfWorker);
    expect(chunks).toHaveLength(1);
    const bundle = pathToFileURL(chunks[0]!).href;
    const script = `
      import { readFileSync } from 'node:fs';
      import { Worker } from 'node:worker_threads';
      const [bundle, limits, ...files] = process.argv.slice(1);
      const results = [];
      for (const file of files) {
        const worker = new Worker(new URL(bundle), { workerData: { docsiftPdfWorker: JSON.parse(limits) }, execArgv: [] });
        const ask = (message) => new Promise((resolve) => { worker.once('message', resolve); worker.postMessage(message); });
        const opened = await ask({ type: 'open', bytes: new Uint8Array(readFileSync(file)) });
        results.push(opened.ok ? [opened.value, await ask({ type: 'page', pageNumber: 1 })] : [opened]);
        await worker.terminate();
      }
      process.stdout.write(JSON.stringify(results));`;
    const files = [await makePdf(['Bundled page one', 'two']), await makePdfBomb([256 * 1024 * 1024])];
    const paths = files.map((file, i) => {
      const filePath = path.join(outdir, `file-${i}.pdf`);
      writeFileSync(filePath, file);
      return filePath;
    });
    const output = await runNode(script, [bundle, JSON.stringify(PDF_LIMITS), ...paths]);
    expect(JSON.parse(output)).toEqual([
      [2, { ok: true, value: 'Bundled page one' }],
      [{ ok: false, reason: 'The PDF is too large once decompressed: a stream inflates past 64 MB' }],
    ]);
  });
});
