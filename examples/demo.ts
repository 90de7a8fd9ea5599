import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';

// The logger reads LOG_LEVEL when it loads: set it first, then load the runtime. Quiet by default,
// as the CLI's own output tells the story (DEMO_LOG_LEVEL=INFO shows the server's log).
process.env.LOG_LEVEL = process.env.DEMO_LOG_LEVEL ?? 'SILENT';
const { loadConfig } = await import('#lib/config.ts');
const { startLocalRuntime } = await import('#lib/local/runtime.ts');
const { startFakeLlm } = await import('#test/support/fake-llm.ts');

// `npm run demo`: a fresh start, self-contained. It starts the fake LLM, a small web site serving
// examples/site, and the local runtime on a temporary DATA_DIR (embedded Postgres), then drives
// the CLI as a user would: login → ingest a CSV, a PDF and a URL list → two schemes → classify →
// export. Each command is printed before it runs. Everything is removed at the end.

const here = path.dirname(new URL(import.meta.url).pathname);
const bin = path.resolve(here, '../bin/docsift.mjs');
const user = { email: 'demo@example.com', password: 'demo-password-for-docsift-42' };

const dataDir = await mkdtemp(path.join(tmpdir(), 'docsift-demo-'));
const fake = await startFakeLlm();
const site = createServer(async (req, res) => {
  const name = path.basename(req.url ?? '');
  const html = await readFile(path.join(here, 'site', name), 'utf8').catch(() => undefined);
  if (html === undefined) return res.writeHead(404).end('Not found');
  res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(html);
});
await new Promise<void>((resolve) => site.listen(0, '127.0.0.1', resolve));
const siteUrl = `http://127.0.0.1:${(site.address() as AddressInfo).port}`;

Object.assign(process.env, { OPENAI_BASE_URL: `${fake.url}/v1`, OPENAI_MODELS: 'fake-model' });
step(
  'Starting the local runtime on a temporary DATA_DIR with the fake LLM (embedded Postgres: a few seconds)',
);
const runtime = await startLocalRuntime(
  loadConfig({
    ...process.env,
    PORT: '0',
    DATA_DIR: dataDir,
    DATABASE_URL: '',
    FIRST_SUPERUSER: user.email,
    FIRST_SUPERUSER_PASSWORD: user.password,
    // The URL list points at the demo's own site on loopback, which the scraper refuses by default.
    SCRAPER_ALLOW_PRIVATE_HOSTS: 'true',
  }),
);
const env = {
  ...process.env,
  DOCSIFT_API: `${runtime.url}/api/v1`,
  DOCSIFT_CONFIG: path.join(dataDir, 'cli-config.json'),
  DOCSIFT_POLL_MS: '200',
};

let failed = false;
try {
  console.log(`  API ${runtime.url}/api/v1, docs ${runtime.url}/docs, fake LLM ${fake.url}/v1`);
  await docsift(['login', '--email', user.email, '--password-stdin'], user.password);
  await docsift(['workspaces', '--create', 'Demo']);
  const workspace = JSON.parse(await docsift(['workspaces', '--json'], undefined, false)).at(-1);
  await docsift(['workspaces', 'use', workspace.id]);

  const urls = (await readFile(path.join(here, 'urls.txt'), 'utf8'))
    .split('\n')
    .filter(Boolean)
    .map((page) => `${siteUrl}/${page}`);
  const sources = JSON.parse(
    await docsift(['ingest', 'examples/speeches.csv', 'examples/report.pdf', ...urls, '--json']),
  );
  const topics = JSON.parse(
    await docsift(['schemes', 'create', '-f', 'examples/scheme-topics.json', '--json']),
  );
  const tone = JSON.parse(await docsift(['schemes', 'create', '-f', 'examples/scheme-tone.json', '--json']));
  const ids = (items: { id: string }[]) => items.map((i) => i.id).join(',');
  const job = JSON.parse(
    await docsift(['classify', '--scheme', ids([topics, tone]), '--datasource', ids(sources), '--json']),
  );
  const out = path.join(dataDir, 'results.csv');
  await docsift(['results', 'export', '--job', job.id, '--format', 'csv', '-o', out]);
  const rows = (await readFile(out, 'utf8')).trim().split('\n');
  step(`The export: ${rows.length - 1} results, the first lines:`);
  console.log(rows.slice(0, 3).join('\n'));
  step(
    `Done: ${sources.length} datasources, 2 schemes, 1 job (${job.progress.succeeded} classified). ` +
      'Against your own runtime: npm start (with npm run fake-llm) and the same commands via npx docsift.',
  );
} catch (error) {
  failed = true;
  console.error(`Demo failed: ${(error as Error).message}`);
} finally {
  await runtime.stop();
  await fake.close();
  await new Promise((resolve) => site.close(resolve));
  await rm(dataDir, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);

function step(text: string) {
  console.log(`\n== ${text}`);
}

/** Runs the CLI, printing the command line and its output; answers stdout. */
function docsift(args: string[], stdin?: string, show = true): Promise<string> {
  if (show) step(`npx docsift ${args.join(' ')}${stdin ? ' <<< (password)' : ''}`);
  return new Promise((resolve, reject) => {
    const child = execFile(process.execPath, [bin, ...args], { env }, (error, stdout, stderr) => {
      if (show) process.stdout.write(args.includes('--json') ? summarize(stdout) : stdout);
      if (error) reject(new Error(stderr.trim() || error.message));
      else resolve(stdout);
    });
    child.stdin?.end(stdin ?? '');
  });
}

/** A line per item of `--json` output, so the demo stays readable. */
function summarize(stdout: string): string {
  const value = JSON.parse(stdout);
  const items: Record<string, unknown>[] = Array.isArray(value) ? value : [value];
  return `${items
    .map((i) =>
      ['id', 'name', 'type', 'status', 'record_count']
        .filter((k) => i[k] !== undefined)
        .map((k) => `${k}=${i[k]}`)
        .join(' '),
    )
    .join('\n')}\n`;
}
