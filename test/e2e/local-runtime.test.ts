import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '#lib/db/embedded.ts';
import { apiClient } from '#test/support/client.ts';

// `npm start` as a user runs it: its own process, the embedded Postgres under DATA_DIR,
// nothing else configured. Two runs on the same DATA_DIR prove data and keys persist and
// that a signal stops everything cleanly.

let dataDir: string;

beforeAll(async () => {
  dataDir = await mkdtemp(path.join(tmpdir(), 'docsift-start-'));
  await chmod(dataDir, 0o755);
});
afterAll(() => rm(dataDir, { recursive: true, force: true }));

type Started = { child: ChildProcess; output: () => string; exited: Promise<number | null>; url: string };

/**
 * Starts the runtime: node directly, or `npm start` as a user types it (in a process group of
 * its own, as a terminal would put it, so the test can kill the whole tree).
 */
async function start(how: 'node' | 'npm' = 'node', dir = dataDir): Promise<Started> {
  const run = await launch(how, dir);
  const deadline = Date.now() + 90_000;
  while (Date.now() < deadline) {
    if (run.child.exitCode !== null) throw new Error(`npm start exited early:\n${run.output()}`);
    const ok = await fetch(`${run.url}/api/v1/healthz`).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) return run;
    await new Promise((r) => setTimeout(r, 250));
  }
  run.child.kill('SIGKILL');
  throw new Error(`npm start did not become healthy:\n${run.output()}`);
}

async function launch(how: 'node' | 'npm', dir: string): Promise<Started> {
  const port = await freePort();
  const [command, args] =
    how === 'npm' ? ['npm', ['start']] : [process.execPath, ['--import', 'tsx', 'lib/local/main.ts']];
  const child = spawn(command, args, {
    detached: how === 'npm',
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      PORT: String(port),
      DATA_DIR: dir,
      FIRST_SUPERUSER: 'owner@example.com',
      FIRST_SUPERUSER_PASSWORD: 'owner-password',
      LOG_LEVEL: 'INFO',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (d) => (output += d));
  child.stderr!.on('data', (d) => (output += d));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, output: () => output, exited, url: `http://127.0.0.1:${port}` };
}

/** The pids of live processes whose command line names `dir` (node through its env is not seen; Postgres is). */
async function processesUnder(dir: string): Promise<number[]> {
  const pids: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const cmdline = await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '');
    const environ = await readFile(`/proc/${entry}/environ`, 'utf8').catch(() => '');
    const stat = await readFile(`/proc/${entry}/stat`, 'utf8').catch(() => '');
    if (stat.split(' ')[2] === 'Z') continue; // a zombie has exited, only its parent has not reaped it
    if (cmdline.includes(dir) || environ.split('\0').includes(`DATA_DIR=${dir}`)) pids.push(Number(entry));
  }
  return pids;
}

/** Waits until no process runs under `dir`, failing with what is left after `ms`. */
async function noProcessesUnder(dir: string, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  let left = await processesUnder(dir);
  while (left.length > 0 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 200));
    left = await processesUnder(dir);
  }
  expect(left).toEqual([]);
}

describe('the local runtime process (npm start)', () => {
  let token: string;
  let workspaceId: string;

  it('starts on the embedded database, migrates, seeds the first superuser, and serves', async () => {
    const run = await start();
    try {
      const api = apiClient(run.url);
      token = await api.login('owner@example.com', 'owner-password');
      const ws = await api.post('/api/v1/workspaces', { token, json: { name: 'Survives restarts' } });
      expect(ws.status).toBe(201);
      workspaceId = ws.body.id;
      // Every log line is JSON carrying the invocation's request id.
      const line = run
        .output()
        .split('\n')
        .find((l) => l.includes('"message":"request"'));
      expect(JSON.parse(line!)).toMatchObject({
        request_id: expect.any(String),
        function_name: 'system.health',
        status: expect.any(Number),
      });
      // One start-up block says what runs (a JSON line when stdout is not a terminal).
      const started = run
        .output()
        .split('\n')
        .filter((l) => l.includes('"message":"docsift is running"'));
      expect(started).toHaveLength(1);
      expect(JSON.parse(started[0]!)).toMatchObject({
        url: run.url,
        docs: `${run.url}/docs`,
        platform: 'local',
        database: `embedded PostgreSQL at ${path.join(dataDir, 'postgres')}`,
        queues: expect.stringMatching(/^pg-boss/),
        llm: expect.stringMatching(/none configured/),
      });
    } finally {
      run.child.kill('SIGTERM');
    }
    expect(await run.exited, run.output()).toBe(0);
    expect(run.output()).toContain('Stopped cleanly');
    expect(existsSync(path.join(dataDir, 'postgres', 'postmaster.pid'))).toBe(false);
    expect(run.output()).not.toContain('owner-password');
  }, 120_000);

  it('keeps data and the generated signing key across restarts, and stops on SIGINT', async () => {
    const run = await start();
    try {
      const api = apiClient(run.url);
      // The token issued by the first run still verifies: SECRET_KEY was generated once and kept.
      const ws = await api.get(`/api/v1/workspaces/${workspaceId}`, { token });
      expect(ws.status).toBe(200);
      expect(ws.body.name).toBe('Survives restarts');
    } finally {
      run.child.kill('SIGINT');
    }
    expect(await run.exited).toBe(0);
    expect(run.output()).toContain('Stopped cleanly');
  }, 120_000);

  it('stops node and Postgres on SIGTERM to npm start, and starts again', async () => {
    const run = await start('npm');
    expect((await processesUnder(dataDir)).length).toBeGreaterThanOrEqual(2); // node and Postgres at least
    process.kill(run.child.pid!, 'SIGTERM');
    await noProcessesUnder(dataDir);
    expect(run.output()).toContain('Stopped cleanly');
    expect(existsSync(path.join(dataDir, 'docsift.pid'))).toBe(false);
    const again = await start('npm');
    process.kill(again.child.pid!, 'SIGTERM');
    await noProcessesUnder(dataDir);
  }, 120_000);

  it('starts again after the whole tree was killed outright', async () => {
    const run = await start('npm');
    process.kill(-run.child.pid!, 'SIGKILL');
    await noProcessesUnder(dataDir);
    // Left behind: docsift.pid and postmaster.pid naming dead processes.
    expect(existsSync(path.join(dataDir, 'docsift.pid'))).toBe(true);
    expect(existsSync(path.join(dataDir, 'postgres', 'postmaster.pid'))).toBe(true);
    const again = await start('npm');
    const ws = await apiClient(again.url).get(`/api/v1/workspaces/${workspaceId}`, { token });
    expect(ws.body.name).toBe('Survives restarts');
    process.kill(again.child.pid!, 'SIGTERM');
    await noProcessesUnder(dataDir);
  }, 120_000);

  it('stops the Postgres an outright-killed node left running, and starts', async () => {
    const run = await start('node');
    const postgres = Number.parseInt(
      await readFile(path.join(dataDir, 'postgres', 'postmaster.pid'), 'utf8'),
      10,
    );
    run.child.kill('SIGKILL');
    await run.exited;
    expect(await processesUnder(dataDir)).toContain(postgres);
    const again = await start('node');
    expect(await processesUnder(dataDir)).not.toContain(postgres);
    again.child.kill('SIGTERM');
    expect(await again.exited).toBe(0);
  }, 120_000);

  it('refuses a second start on a DATA_DIR in use, saying by whom', async () => {
    const first = await start('node');
    try {
      const second = await launch('node', dataDir);
      expect(await second.exited).toBe(1);
      expect(second.output()).toContain(
        `DATA_DIR ${dataDir} is in use by another docsift process (pid ${first.child.pid})`,
      );
      // The first one is untouched.
      expect((await fetch(`${first.url}/api/v1/healthz`)).status).toBe(200);
    } finally {
      first.child.kill('SIGTERM');
    }
    expect(await first.exited).toBe(0);
  }, 120_000);
});
