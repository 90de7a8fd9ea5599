import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SUPERUSER, startTestApp, type TestApp } from '#test/support/app.ts';
import { type Moto, startMoto } from '#test/support/moto.ts';

// Password recovery on the aws platform: the mail goes out through SES (moto's), not the log.
// A moto of its own: reading sent mail means dumping moto's whole state, which other files'
// state (an S3 multipart upload, say) makes fail.
let app: TestApp;
let moto: Moto;
const suffix = randomBytes(4).toString('hex');

beforeAll(async () => {
  moto = await startMoto();
  process.env.AWS_ENDPOINT_URL = moto.endpoint;
  app = await startTestApp({
    PLATFORM: 'aws',
    EMAILS_FROM: 'noreply@docsift.example.com',
    FRONTEND_URL: 'https://app.example.com',
    UPLOADS_BUCKET: `docsift-test-${suffix}`,
    INGEST_QUEUE: `docsift-ingest-${suffix}`,
    CLASSIFY_QUEUE: `docsift-classify-${suffix}`,
  });
});
afterAll(async () => {
  await app.stop();
  await moto.stop();
});

/** The mails moto's SES has accepted for `to`. */
async function sentTo(to: string): Promise<{ body: string; source: string }[]> {
  const data = (await (await fetch(`${moto.endpoint}/moto-api/data.json`)).json()) as {
    ses: { Message?: { body: string; source: string; destinations: { ToAddresses: string[] } }[] };
  };
  return (data.ses.Message ?? []).filter((m) => m.destinations.ToAddresses.includes(to));
}

describe('password recovery through SES', () => {
  it('sends the reset link from EMAILS_FROM, and the link resets the password', async () => {
    const admin = await app.api.login(SUPERUSER.email, SUPERUSER.password);
    const user = await app.api.newUser(admin, { email: `ses-${suffix}@example.com` });
    expect((await app.api.post(`/api/v1/password-recovery/${user.email}`)).status).toBe(200);
    const mails = await sentTo(user.email);
    expect(mails).toHaveLength(1);
    expect(mails[0]!.source).toBe('noreply@docsift.example.com');
    const token = /https:\/\/app\.example\.com\/reset-password\?token=([\w-]+)/.exec(mails[0]!.body)?.[1];
    expect(token).toBeDefined();
    const reset = await app.api.post('/api/v1/reset-password', {
      json: { token, new_password: 'via-ses-123' },
    });
    expect(reset.status).toBe(200);
    expect(await app.api.login(user.email, 'via-ses-123')).toBeTypeOf('string');
  });
});
