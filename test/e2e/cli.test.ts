import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parse as parseCsv } from 'csv-parse/sync';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SUPERUSER, startTestApp, type TestApp } from '#test/support/app.ts';
import { type FakeLlm, startFakeLlm } from '#test/support/fake-llm.ts';
import { article, startSite } from '#test/support/ingest.ts';

// The CLI as a user runs it: a child process of bin/docsift.mjs against the local runtime, with
// the fake LLM behind the classifier and a config file of its own.

const BIN = path.resolve('bin/docsift.mjs');
const EXAMPLES = path.resolve('examples');

let app: TestApp;
let fake: FakeLlm;
let home: string;
let site: Awaited<ReturnType<typeof startSite>>;
let user: { email: string; password: string };

type Run = { code: number; stdout: string; stderr: string };

function cli(args: string[], options: { stdin?: string; env?: Record<string, string> } = {}): Promise<Run> {
  return new Promise((resolve) => {
    const child = execFile(
      process.execPath,
      [BIN, ...args],
      {
        env: {
          ...process.env,
          DOCSIFT_API: `${app.url}/api/v1`,
          DOCSIFT_CONFIG: path.join(home, 'config.json'),
          DOCSIFT_POLL_MS: '100',
          ...options.env,
        },
      },
      (error, stdout, stderr) =>
        resolve({ code: error ? ((error.code as number | undefined) ?? 1) : 0, stdout, stderr }),
    );
    child.stdin?.end(options.stdin ?? '');
  });
}

/** Runs a `--json` command that must succeed and answers its parsed stdout. */
async function cliJson(args: string[]): Promise<any> {
  const run = await cli([...args, '--json']);
  expect(run.stderr.includes('error:') ? run.stderr : '', run.stderr).toBe('');
  expect(run.code).toBe(0);
  return JSON.parse(run.stdout);
}

beforeAll(async () => {
  fake = await startFakeLlm();
  process.env.OPENAI_BASE_URL = `${fake.url}/v1`;
  process.env.OPENAI_MODELS = 'fake-model';
  site = await startSite({
    '/a': article('Wind farms approved', 'The council approved three wind farms.'),
    '/b': article('Clinic queues doubled', 'Waiting lists at clinics have doubled.'),
  });
  // Exports past 1,000 bytes are written in the background: the CLI polls them and downloads.
  app = await startTestApp({ SCRAPER_ALLOW_PRIVATE_HOSTS: 'true', EXPORT_INLINE_MAX_BYTES: '1000' });
  home = await mkdtemp(path.join(tmpdir(), 'docsift-cli-'));
  const admin = await app.api.login(SUPERUSER.email, SUPERUSER.password);
  user = { email: `cli-${Date.now()}@example.com`, password: 'a-long-cli-password-42' };
  const created = await app.api.post('/api/v1/users', { token: admin, json: { ...user, full_name: 'CLI' } });
  expect(created.status).toBe(201);
});
afterAll(async () => {
  await app?.stop();
  await fake?.close();
  await site?.close();
  if (home) await rm(home, { recursive: true, force: true });
});

describe('docsift CLI', () => {
  it('runs the daily loop: login, workspaces, ingest a CSV, a PDF and URLs, scheme, classify, export', async () => {
    const login = await cli(['login', '--email', user.email, '--password-stdin', '--json'], {
      stdin: `${user.password}\n`,
    });
    expect(login.code, login.stderr).toBe(0);
    expect(JSON.parse(login.stdout)).toEqual({ api: `${app.url}/api/v1`, email: user.email });
    const configFile = path.join(home, 'config.json');
    expect((await stat(configFile)).mode & 0o777).toBe(0o600);
    expect(await readFile(configFile, 'utf8')).toContain('"token"');

    const workspace = await cliJson(['workspaces', '--create', 'CLI test']);
    expect(workspace.name).toBe('CLI test');
    expect((await cliJson(['workspaces', 'use', workspace.id])).id).toBe(workspace.id);
    const list = await cliJson(['workspaces']);
    expect(list.map((w: { id: string }) => w.id)).toContain(workspace.id);

    const sources = await cliJson([
      'ingest',
      path.join(EXAMPLES, 'speeches.csv'),
      path.join(EXAMPLES, 'report.pdf'),
    ]);
    expect(sources.map((d: any) => [d.type, d.status, d.workspace_id])).toEqual([
      ['csv', 'complete', workspace.id],
      ['pdf', 'complete', workspace.id],
    ]);
    expect(sources[0].record_count).toBe(6);
    expect(sources[1].record_count).toBe(2); // one record a page

    const urls = await cliJson(['ingest', `${site.url}/a`, `${site.url}/b`, '--name', 'News']);
    expect(urls.map((d: any) => [d.name, d.type, d.status, d.record_count])).toEqual([
      ['News', 'url_list', 'complete', 2],
    ]);

    const scheme = await cliJson(['schemes', 'create', '-f', path.join(EXAMPLES, 'scheme-topics.json')]);
    expect(scheme.fields.map((f: { name: string }) => f.name)).toEqual(['topics', 'stance']);

    const job = await cliJson([
      'classify',
      '--scheme',
      scheme.id,
      '--datasource',
      sources.map((d: { id: string }) => d.id).join(','),
    ]);
    expect(job.status).toBe('completed');
    expect(job.progress).toMatchObject({ total: 8, succeeded: 8, failed: 0 });
    expect(fake.requests.length).toBeGreaterThanOrEqual(8);

    const csv = await cli(['results', 'export', '--job', job.id, '--format', 'csv']);
    expect(csv.code, csv.stderr).toBe(0);
    expect(csv.stdout).toMatch(/^The export is large: written in the background/);
    expect(parseCsv(csv.stdout.slice(csv.stdout.indexOf('\n') + 1), { columns: true })).toHaveLength(8);

    const out = path.join(home, 'results.jsonl');
    const jsonl = await cli(['results', 'export', '--job', job.id, '--format', 'jsonl', '-o', out]);
    expect(jsonl.code, jsonl.stderr).toBe(0);
    const lines = (await readFile(out, 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines).toHaveLength(8);
    // Each step starts a node process (about 1 s alone, several on a busy machine).
  }, 120_000);

  it('fails with a non-zero exit code and the API’s problem detail on stderr', async () => {
    const wrong = await cli(['login', '--email', user.email, '--password-stdin'], {
      stdin: 'not-the-password',
      env: { DOCSIFT_CONFIG: path.join(home, 'other.json') },
    });
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toMatch(/^error: 400 Incorrect email or password/m);

    const missing = await cli([
      'classify',
      '--scheme',
      crypto.randomUUID(),
      '--datasource',
      crypto.randomUUID(),
    ]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/^error: 422 .*scheme_ids\.0: Not found in this workspace/m);
    expect(missing.stdout).toBe('');

    const invalid = await cli(['results', 'export', '--job', 'not-a-uuid']);
    expect(invalid.code).toBe(1);
    expect(invalid.stderr).toMatch(/^error: 422 .*job_id/m);

    const loggedOut = await cli(['workspaces'], { env: { DOCSIFT_CONFIG: path.join(home, 'none.json') } });
    expect(loggedOut.code).toBe(1);
    expect(loggedOut.stderr).toContain('Not logged in');

    const usage = await cli(['classify']);
    expect(usage.code).not.toBe(0);
    expect(usage.stderr).toContain("required option '-s, --scheme <ids>' not specified");
  }, 60_000);
});
