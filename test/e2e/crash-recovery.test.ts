import { type ChildProcess, spawn } from 'node:child_process';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { freePort } from '#lib/db/embedded.ts';
import { type ApiClient, apiClient } from '#test/support/client.ts';
import { type FakeLlm, startFakeLlm } from '#test/support/fake-llm.ts';
import { article, waitForDatasource } from '#test/support/ingest.ts';

// The real process, killed the way a crash kills it: SIGKILL to its whole process group (node
// and the embedded Postgres), mid-scrape and mid-classification, then started again on the same
// DATA_DIR with every default. What the dead process held must resume within a minute.

let dataDir: string;
let fake: FakeLlm;
let site: Server;
let siteUrl: string;
let slowPages = true;

beforeAll(async () => {
  dataDir = await mkdtemp(path.join(tmpdir(), 'docsift-crash-'));
  await chmod(dataDir, 0o755);
  fake = await startFakeLlm();
  site = createServer((req, res) => {
    const reply = () =>
      res.writeHead(200, { 'content-type': 'text/html' }).end(article(`Page ${req.url}`, 'Some text.'));
    // Slow enough to be killed in the middle, well inside the scraper's timeout.
    if (slowPages) setTimeout(reply, 8_000).unref();
    else reply();
  });
  await new Promise<void>((r) => site.listen(0, '127.0.0.1', r));
  siteUrl = `http://127.0.0.1:${(site.address() as { port: number }).port}`;
});
afterAll(async () => {
  site.closeAllConnections();
  await new Promise((r) => site.close(r));
  await fake.close();
  await rm(dataDir, { recursive: true, force: true });
});

type Started = { child: ChildProcess; url: string; api: ApiClient; output: () => string };

async function start(): Promise<Started> {
  const port = await freePort();
  const child = spawn(process.execPath, ['--import', 'tsx', 'lib/local/main.ts'], {
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      PORT: String(port),
      DATA_DIR: dataDir,
      FIRST_SUPERUSER: 'owner@example.com',
      FIRST_SUPERUSER_PASSWORD: 'owner-password',
      LOG_LEVEL: 'INFO',
      SCRAPER_ALLOW_PRIVATE_HOSTS: 'true',
      OPENAI_BASE_URL: `${fake.url}/v1`,
      OPENAI_API_KEY: 'sk-crash-test-key',
      OPENAI_MODELS: 'fake-model',
    },
    // Its own process group, so a SIGKILL reaches Postgres too, as a machine's crash would.
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (d) => (output += d));
  child.stderr!.on('data', (d) => (output += d));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 90_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`npm start exited early:\n${output}`);
    if (
      await fetch(`${url}/api/v1/healthz`).then(
        (r) => r.ok,
        () => false,
      )
    )
      return { child, url, api: apiClient(url), output: () => output };
    await sleep(250);
  }
  kill(child);
  throw new Error(`npm start did not become healthy:\n${output}`);
}

function kill(child: ChildProcess) {
  try {
    process.kill(-child.pid!, 'SIGKILL');
  } catch {
    // Already gone.
  }
}

it('resumes the scrape and the job a SIGKILLed process held, within a minute of the restart', async () => {
  let run = await start();
  let finished = false;
  try {
    const { api } = run;
    const token = await api.login('owner@example.com', 'owner-password');
    const ws = (await api.post('/api/v1/workspaces', { token, json: { name: 'Crash' } })).body.id;
    const base = `/api/v1/workspaces/${ws}`;
    const scheme = await api.post(`${base}/classification_schemes`, {
      token,
      json: { name: 'Tone', fields: [{ name: 'calm', description: 'Is it calm?', type: 'bool' }] },
    });
    expect(scheme.status).toBe(201);
    const texts = await api.post(`${base}/datasources`, {
      token,
      json: { name: 'Texts', type: 'text_block', options: { text: 'The budget passed after a long night.' } },
    });
    const textsId = texts.body.data[0].id;
    await waitForDatasource(api, token, ws, textsId);

    const urls = await api.post(`${base}/datasources`, {
      token,
      json: { name: 'Pages', type: 'url_list', options: { urls: [`${siteUrl}/a`, `${siteUrl}/b`] } },
    });
    expect(urls.status).toBe(201);
    const urlsId = urls.body.data[0].id;
    fake.latencyMs = 30_000;
    const job = await api.post(`${base}/classification_jobs`, {
      token,
      json: {
        name: 'Crash job',
        scheme_ids: [scheme.body.id],
        datasource_ids: [textsId],
        provider: 'openai',
        model: 'fake-model',
      },
    });
    expect(job.status).toBe(201);

    // Both are in the middle of their work when the process dies.
    const deadline = Date.now() + 20_000;
    for (;;) {
      const ds = await api.get(`${base}/datasources/${urlsId}`, { token });
      const j = await api.get(`${base}/classification_jobs/${job.body.id}`, { token });
      if (ds.body.status === 'processing' && j.body.status === 'running' && fake.inFlight > 0) break;
      if (Date.now() > deadline) throw new Error(`not in progress: ${ds.body.status}, ${j.body.status}`);
      await sleep(100);
    }
    kill(run.child);
    const killedAt = Date.now();
    slowPages = false;
    fake.latencyMs = 0;

    run = await start();
    const restartedAt = Date.now();
    const restarted = run.api;
    const relogin = await restarted.login('owner@example.com', 'owner-password');
    let dsDoneAt = 0;
    let jobDoneAt = 0;
    while ((!dsDoneAt || !jobDoneAt) && Date.now() < restartedAt + 60_000) {
      const ds = await restarted.get(`${base}/datasources/${urlsId}`, { token: relogin });
      if (!dsDoneAt && ds.body.status === 'complete') dsDoneAt = Date.now();
      const j = await restarted.get(`${base}/classification_jobs/${job.body.id}`, { token: relogin });
      if (!jobDoneAt && j.body.status === 'completed') jobDoneAt = Date.now();
      await sleep(100);
    }
    const seconds = (t: number) => (t ? ((t - killedAt) / 1000).toFixed(1) : 'never');
    console.info(
      `crash recovery: restart took ${((restartedAt - killedAt) / 1000).toFixed(1)} s; ` +
        `scrape complete ${seconds(dsDoneAt)} s and job completed ${seconds(jobDoneAt)} s after the SIGKILL`,
    );
    expect(dsDoneAt, run.output()).toBeGreaterThan(0);
    expect(jobDoneAt, run.output()).toBeGreaterThan(0);
    expect(run.output()).toContain('Released the messages a stopped process held');
    // The item the dead worker was classifying: its lease is freed at once, not at its expiry.
    expect(run.output()).toContain('Released the item leases a stopped process held');
    finished = true;
  } finally {
    if (finished) {
      run.child.kill('SIGTERM');
      await new Promise((r) => run.child.once('exit', r));
    } else kill(run.child);
  }
}, 240_000);
