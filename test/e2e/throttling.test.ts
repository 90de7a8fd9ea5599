import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SUPERUSER, startTestApp, type TestApp } from '#test/support/app.ts';

// A file of its own: short windows and small limits need a config of their own.
// Long enough for a burst of logins (bcrypt on a busy machine) to land inside one window.
const WINDOW_SECONDS = 5;
let app: TestApp;
let adminToken: string;

beforeAll(async () => {
  app = await startTestApp({
    LOGIN_THROTTLE_WINDOW_SECONDS: String(WINDOW_SECONDS),
    LOGIN_MAX_FAILURES_PER_EMAIL: '10',
    LOGIN_MAX_FAILURES_PER_ADDRESS: '15',
    RECOVERY_THROTTLE_WINDOW_SECONDS: String(WINDOW_SECONDS),
    RECOVERY_MAX_PER_EMAIL: '3',
    RECOVERY_MAX_PER_ADDRESS: '8',
  });
  adminToken = await app.api.login(SUPERUSER.email, SUPERUSER.password);
});
afterAll(() => app.stop());

const login = (username: string, password: string) =>
  app.api.post('/api/v1/login/access-token', { form: { username, password } });

/** Waits until every attempt made so far has left the window. */
const windowPasses = () => sleep(WINDOW_SECONDS * 1000 + 200);

function expectThrottled(res: { status: number; headers: Headers; body: any }) {
  expect(res.status).toBe(429);
  expect(res.headers.get('content-type')).toBe('application/problem+json');
  const retryAfter = Number(res.headers.get('retry-after'));
  expect(retryAfter).toBeGreaterThanOrEqual(1);
  expect(retryAfter).toBeLessThanOrEqual(WINDOW_SECONDS);
  expect(res.body).toMatchObject({ status: 429, request_id: expect.any(String) });
  return retryAfter;
}

describe('login throttling', () => {
  it('answers the 11th wrong password with 429 and Retry-After, then refuses even the right one until the window passes', async () => {
    const user = await app.api.newUser(adminToken);
    const ten = await Promise.all(
      Array.from({ length: 10 }, (_, i) => login(user.email, `wrong-password-${i}`)),
    );
    expect(ten.map((r) => r.status)).toEqual(Array(10).fill(400));
    const eleventh = await login(user.email, 'wrong-password-10');
    expectThrottled(eleventh);
    expect(eleventh.body.detail).toMatch(/^Too many failed login attempts; try again in \d+ s$/);
    const right = await login(user.email, user.password);
    const retryAfter = expectThrottled(right);

    await sleep(retryAfter * 1000 + 200);
    expect((await login(user.email, user.password)).status).toBe(200);
    await windowPasses();
  });

  it('counts concurrent guesses exactly: 40 at once, 10 checked, 30 refused', async () => {
    const user = await app.api.newUser(adminToken);
    const answers = await Promise.all(
      Array.from({ length: 40 }, (_, i) => login(user.email, `concurrent-guess-${i}`)),
    );
    const statuses = answers.map((r) => r.status);
    expect(statuses.filter((s) => s === 400)).toHaveLength(10);
    expect(statuses.filter((s) => s === 429)).toHaveLength(30);
    expectThrottled(await login(user.email, user.password));
    await windowPasses();
  });

  it('throttles unknown emails like known ones, and every email from one address past its limit', async () => {
    const user = await app.api.newUser(adminToken);
    // 15 failures from this address, each on another (unknown) email: none reaches its own limit.
    const failures = await Promise.all(
      Array.from({ length: 15 }, (_, i) => login(`nobody-${i}@example.com`, 'whatever-123')),
    );
    expect(failures.map((r) => r.status)).toEqual(Array(15).fill(400));
    expectThrottled(await login(user.email, user.password));
    await windowPasses();
    expect((await login(user.email, user.password)).status).toBe(200);
  });

  it('does not count right passwords', async () => {
    const user = await app.api.newUser(adminToken);
    for (let i = 0; i < 12; i++) expect((await login(user.email, user.password)).status).toBe(200);
  });
});

describe('password recovery throttling', () => {
  const outbox = () => path.join(app.dataDir, 'outbox');
  const mailsTo = async (email: string) => {
    const files = await readdir(outbox()).catch(() => [] as string[]);
    const mails = await Promise.all(
      files.map(async (f) => JSON.parse(await readFile(path.join(outbox(), f), 'utf8'))),
    );
    return mails.filter((m) => m.to === email);
  };
  const recover = (email: string) => app.api.post(`/api/v1/password-recovery/${encodeURIComponent(email)}`);

  it('sends at most 3 mails per email per window, answering unknown emails the same way', async () => {
    const user = await app.api.newUser(adminToken);
    const known = [];
    const unknown = [];
    for (let i = 0; i < 4; i++) known.push(await recover(user.email));
    for (let i = 0; i < 4; i++) unknown.push(await recover('no-such-user@example.com'));
    for (const answers of [known, unknown]) {
      expect(answers.slice(0, 3).map((r) => r.status)).toEqual([200, 200, 200]);
      expectThrottled(answers[3]!);
      expect(answers[3]!.body.detail).toMatch(/^Too many password recovery requests/);
    }
    expect(unknown[0]!.body).toEqual(known[0]!.body);
    expect(unknown[3]!.body.detail).toBe(known[3]!.body.detail);
    expect(await mailsTo(user.email)).toHaveLength(3);

    // Six requests counted for this address so far (refused ones are not): two more pass,
    // then the address is refused whatever the email.
    expect((await recover('fresh-1@example.com')).status).toBe(200);
    expect((await recover('fresh-2@example.com')).status).toBe(200);
    expectThrottled(await recover('fresh-3@example.com'));

    await windowPasses();
    expect((await recover(user.email)).status).toBe(200);
    expect(await mailsTo(user.email)).toHaveLength(4);
  });
});
