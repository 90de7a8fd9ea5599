import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
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
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (d) => (output += d));
  child.stderr!.on('data', (d) => (output += d));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 90_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`npm start exited early:\n${output}`);
    const ok = await fetch(`${url}/api/v1/healthz`).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) return { child, output: () => output, exited, url };
    await new Promise((r) => setTimeout(r, 250));
  }
  child.kill('SIGKILL');
  throw new Error(`npm start did not become healthy:\n${output}`);
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
});
