import diagnostics from 'node:diagnostics_channel';
import { createServer, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { fetch } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { IngestError } from '#lib/ingest/errors.ts';
import { createGuardedAgent } from '#lib/ingest/guarded-agent.ts';
import { checkAddress, checkUrl, guardedLookup } from '#lib/ingest/ssrf.ts';

const METADATA = 'link-local/metadata address refused';
const NON_UNICAST = 'unspecified, broadcast or multicast address refused';
const PRIVATE = 'private address refused';

// [address, reason when private hosts are refused, reason when they are allowed]; null = allowed.
const table: [string, string | null, string | null][] = [
  ['93.184.215.14', null, null],
  ['2606:4700:4700::1111', null, null],
  ['::ffff:93.184.215.14', null, null],
  ['169.254.169.254', METADATA, METADATA],
  ['169.254.10.1', METADATA, METADATA],
  ['fd00:ec2::254', METADATA, METADATA],
  ['100.100.100.200', METADATA, METADATA],
  ['fe80::1', METADATA, METADATA],
  ['fe80::1%eth0', METADATA, METADATA],
  ['::ffff:169.254.169.254', METADATA, METADATA],
  ['::ffff:a9fe:a9fe', METADATA, METADATA],
  ['64:ff9b::169.254.169.254', METADATA, METADATA],
  ['2002:a9fe:a9fe::1', METADATA, METADATA],
  ['::169.254.169.254', METADATA, METADATA],
  ['0.0.0.0', NON_UNICAST, NON_UNICAST],
  ['::', NON_UNICAST, NON_UNICAST],
  ['::ffff:0.0.0.0', NON_UNICAST, NON_UNICAST],
  ['255.255.255.255', NON_UNICAST, NON_UNICAST],
  ['224.0.0.1', NON_UNICAST, NON_UNICAST],
  ['ff02::1', NON_UNICAST, NON_UNICAST],
  ['127.0.0.1', PRIVATE, null],
  ['127.8.9.10', PRIVATE, null],
  ['::1', PRIVATE, null],
  ['::ffff:127.0.0.1', PRIVATE, null],
  ['10.1.2.3', PRIVATE, null],
  ['172.16.0.1', PRIVATE, null],
  ['172.31.255.255', PRIVATE, null],
  ['172.32.0.1', null, null],
  ['192.168.1.1', PRIVATE, null],
  ['::ffff:192.168.1.1', PRIVATE, null],
  ['fc00::1', PRIVATE, null],
  ['fd12:3456::1', PRIVATE, null],
  ['100.64.0.1', PRIVATE, null],
  ['192.0.2.1', PRIVATE, null],
  ['198.18.0.1', PRIVATE, null],
  ['240.0.0.1', PRIVATE, null],
  ['2001:db8::1', PRIVATE, null],
  ['64:ff9b::10.0.0.1', PRIVATE, null],
  ['not-an-ip', 'invalid address refused', 'invalid address refused'],
];

describe('checkAddress', () => {
  it.each(table)('%s', (address, refusedWhenPrivateOff, refusedWhenPrivateOn) => {
    const expected = (reason: string | null) => (reason ? { ok: false, reason } : { ok: true });
    expect(checkAddress(address, { allowPrivateHosts: false })).toEqual(expected(refusedWhenPrivateOff));
    expect(checkAddress(address, { allowPrivateHosts: true })).toEqual(expected(refusedWhenPrivateOn));
  });
});

describe('checkUrl', () => {
  const off = { allowPrivateHosts: false };
  const on = { allowPrivateHosts: true };
  it.each([
    ['https://example.com/a', off, null],
    ['http://example.com:80/', off, null],
    ['https://example.com:443/', off, null],
    ['http://example.com:443/', off, null],
    ['http://example.com:8080/', off, 'Port 8080 refused (only 80 and 443)'],
    ['http://example.com:8080/', on, null],
    ['ftp://example.com/', on, 'Unsupported URL scheme ftp'],
    ['file:///etc/passwd', on, 'Unsupported URL scheme file'],
    ['http://user:pw@example.com/', on, 'URLs with credentials are not supported'],
    ['http://127.0.0.1/', off, PRIVATE],
    ['http://2130706433/', off, PRIVATE], // the URL parser turns this into 127.0.0.1
    ['http://[::1]/', off, PRIVATE],
    ['http://[::ffff:169.254.169.254]/', on, METADATA],
    ['http://169.254.169.254/latest/meta-data/', on, METADATA],
    ['http://0x7f.1/', off, PRIVATE],
  ])('%s', (url, options, reason) => {
    expect(checkUrl(new URL(url), options)).toEqual(reason ? { ok: false, reason } : { ok: true });
  });
});

describe('guardedLookup', () => {
  const lookup = (host: string, allowPrivateHosts: boolean, all: boolean) =>
    new Promise<unknown>((resolve, reject) =>
      guardedLookup({ allowPrivateHosts })(host, { all }, (error, address) =>
        error ? reject(error) : resolve(address),
      ),
    );

  it('refuses a name resolving to loopback unless private hosts are allowed', async () => {
    await expect(lookup('localhost', false, true)).rejects.toMatchObject({ reason: PRIVATE });
    await expect(lookup('localhost', true, false)).resolves.toMatch(/^(127\.0\.0\.1|::1)$/);
    await expect(lookup('localhost', true, true)).resolves.toContainEqual(
      expect.objectContaining({ address: expect.stringMatching(/^(127\.0\.0\.1|::1)$/) }),
    );
  });

  it('reports an unknown name as a DNS failure', async () => {
    await expect(lookup('no-such-host.invalid', true, true)).rejects.toMatchObject({
      reason: 'DNS lookup failed for no-such-host.invalid',
    });
  });
});

describe('createGuardedAgent', () => {
  let server: Server | undefined;
  afterEach(() => {
    server?.closeAllConnections();
    server?.close();
  });

  /** Sockets Node creates while `run` runs, seen through its `net.client.socket` channel. */
  async function socketsOpenedBy(run: () => Promise<unknown>): Promise<Socket[]> {
    const sockets: Socket[] = [];
    const onSocket = (message: unknown) => sockets.push((message as { socket: Socket }).socket);
    diagnostics.subscribe('net.client.socket', onSocket);
    try {
      await run();
    } finally {
      diagnostics.unsubscribe('net.client.socket', onSocket);
    }
    return sockets;
  }

  async function startServer(): Promise<number> {
    server = createServer((_req, res) => res.end('hello'));
    await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
    return (server.address() as AddressInfo).port;
  }

  it('refuses a resolved private address before connecting', async () => {
    const port = await startServer();
    let connections = 0;
    server!.on('connection', () => connections++);
    const agent = createGuardedAgent({ allowPrivateHosts: false });
    const error = await fetch(`http://localhost:${port}/`, { dispatcher: agent }).catch((e: Error) => e);
    await agent.destroy();
    expect((error as Error).cause).toBeInstanceOf(IngestError);
    expect((error as Error).cause).toMatchObject({ reason: PRIVATE });
    expect(connections).toBe(0);
  });

  it('refuses a metadata IP literal without opening a socket', async () => {
    const agent = createGuardedAgent({ allowPrivateHosts: true });
    let error: unknown;
    const sockets = await socketsOpenedBy(async () => {
      error = await fetch('http://169.254.169.254/latest/meta-data/', { dispatcher: agent }).catch((e) => e);
    });
    await agent.destroy();
    expect((error as Error).cause).toMatchObject({ reason: METADATA });
    expect(sockets).toEqual([]);
  });

  it('lets an allowed private host through (and the socket probe sees it)', async () => {
    const port = await startServer();
    const agent = createGuardedAgent({ allowPrivateHosts: true });
    let body = '';
    const sockets = await socketsOpenedBy(async () => {
      body = await (await fetch(`http://localhost:${port}/`, { dispatcher: agent })).text();
    });
    await agent.destroy();
    expect(body).toBe('hello');
    expect(sockets).toHaveLength(1);
  });
});
