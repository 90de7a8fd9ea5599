import { networkInterfaces } from 'node:os';
import { afterAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '#test/support/app.ts';

// HOST: loopback by default; 0.0.0.0 serves other machines (a container's published port).

/** An address of this machine other than loopback, if it has one. */
const outside = Object.values(networkInterfaces())
  .flat()
  .find((a) => a && a.family === 'IPv4' && !a.internal)?.address;

const reaches = (url: string) =>
  fetch(`${url}/api/v1/healthz`, { signal: AbortSignal.timeout(5000) }).then(
    (r) => r.status,
    () => 'refused',
  );

const apps: TestApp[] = [];
afterAll(() => Promise.all(apps.map((a) => a.stop())));

describe('HOST', () => {
  it('listens on loopback only by default', async () => {
    const app = await startTestApp();
    apps.push(app);
    expect(app.summary.listen).toBe(`127.0.0.1:${app.port}`);
    expect(await reaches(app.url)).toBe(200);
    if (outside) expect(await reaches(`http://${outside}:${app.port}`)).toBe('refused');
  });

  it('listens on every interface with 0.0.0.0, and names a loopback URL', async () => {
    const app = await startTestApp({ HOST: '0.0.0.0' });
    apps.push(app);
    expect(app.summary.listen).toBe(`0.0.0.0:${app.port}`);
    expect(app.url).toBe(`http://127.0.0.1:${app.port}`);
    expect(await reaches(app.url)).toBe(200);
    if (outside) expect(await reaches(`http://${outside}:${app.port}`)).toBe(200);
  });
});
