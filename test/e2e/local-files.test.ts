import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { logger } from '#lib/logger.ts';
import { SUPERUSER, startTestApp, type TestApp } from '#test/support/app.ts';
import { makeCsv } from '#test/support/fixtures.ts';
import { sendUpload, waitForDatasource } from '#test/support/ingest.ts';

// A file of its own: the signing key is generated under DATA_DIR (no SECRET_KEY), and the
// process's log is read.
let app: TestApp;
let adminToken: string;

beforeAll(async () => {
  app = await startTestApp({ SECRET_KEY: '', FRONTEND_URL: 'https://app.example.com' });
  adminToken = await app.api.login(SUPERUSER.email, SUPERUSER.password);
});
afterAll(() => app.stop());

const modeOf = async (file: string) => (await stat(file)).mode & 0o777;

/** Runs `work` with the logger at INFO, returning what it wrote to stdout and stderr. */
async function capturingLogs(work: () => Promise<void>): Promise<string> {
  let captured = '';
  const streams = [process.stdout, process.stderr];
  const originals = streams.map((s) => s.write);
  for (const s of streams) {
    const original = s.write;
    s.write = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
      captured += String(chunk);
      return (original as (...args: unknown[]) => boolean).call(s, chunk, ...rest);
    }) as typeof s.write;
  }
  const level = logger.getLevelName();
  logger.setLogLevel('INFO');
  try {
    await work();
  } finally {
    logger.setLogLevel(level);
    streams.forEach((s, i) => {
      s.write = originals[i]!;
    });
  }
  return captured;
}

describe('secrets on the local disk and in the log', () => {
  it('logs that a recovery mail was written, never its link or token', async () => {
    const user = await app.api.newUser(adminToken);
    const log = await capturingLogs(async () => {
      expect((await app.api.post(`/api/v1/password-recovery/${user.email}`)).status).toBe(200);
    });
    const outbox = path.join(app.dataDir, 'outbox');
    const [file] = await readdir(outbox);
    const mail = JSON.parse(await readFile(path.join(outbox, file!), 'utf8'));
    const token = /reset-password\?token=([\w-]+)/.exec(mail.text)![1]!;
    expect(log).toContain('Mail written to the local outbox');
    expect(log).not.toContain(token);
    expect(log).not.toContain('reset-password?token');
  });

  it('keeps the outbox, the generated signing key and uploads owner-only: files 0600, folders 0700', async () => {
    const outbox = path.join(app.dataDir, 'outbox');
    expect(await modeOf(outbox)).toBe(0o700);
    for (const f of await readdir(outbox)) expect(await modeOf(path.join(outbox, f))).toBe(0o600);
    expect(await modeOf(path.join(app.dataDir, 'secret_key'))).toBe(0o600);

    const ws = (await app.api.post('/api/v1/workspaces', { token: adminToken, json: { name: 'Files' } })).body
      .id;
    const created = await app.api.post(`/api/v1/workspaces/${ws}/datasources`, {
      token: adminToken,
      json: { name: 'Votes', type: 'csv', options: {} },
    });
    const source = created.body.data[0];
    expect((await sendUpload(source.upload, makeCsv([['name'], ['Ann']]), 'votes.csv')).status).toBe(204);
    await waitForDatasource(app.api, adminToken, ws, source.id);

    const objects = path.join(app.dataDir, 'objects');
    const files: string[] = [];
    const walk = async (dir: string): Promise<void> => {
      expect(await modeOf(dir), dir).toBe(0o700);
      for (const entry of await readdir(dir, { withFileTypes: true })) {
        const full = path.join(dir, entry.name);
        if (entry.isDirectory()) await walk(full);
        else files.push(full);
      }
    };
    await walk(objects);
    expect(files).toHaveLength(1);
    expect(await modeOf(files[0]!)).toBe(0o600);
  });
});
