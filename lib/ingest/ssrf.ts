import { lookup as dnsLookup } from 'node:dns';
import { isIP, type LookupFunction } from 'node:net';
import ipaddr from 'ipaddr.js';
import { IngestError } from '#lib/ingest/errors.ts';

/** `allowPrivateHosts` lets local development fetch loopback and LAN servers; never on in production. */
export type GuardOptions = { allowPrivateHosts: boolean };

/** Whether a target may be fetched; `reason` is user-facing. */
export type GuardResult = { ok: true } | { ok: false; reason: string };

const METADATA_REFUSED = 'link-local/metadata address refused';
const NON_UNICAST_REFUSED = 'unspecified, broadcast or multicast address refused';
const PRIVATE_REFUSED = 'private address refused';

/** Cloud metadata endpoints outside link-local ranges: AWS over IPv6, Alibaba Cloud (inside CGNAT). */
const METADATA_ADDRESSES = new Set(
  ['169.254.169.254', 'fd00:ec2::254', '100.100.100.200'].map((a) => ipaddr.parse(a).toNormalizedString()),
);
const NON_UNICAST = new Set(['unspecified', 'broadcast', 'multicast']);
const ALLOWED_PORTS = new Set(['', '80', '443']);

/**
 * Decides whether a resolved IP address may be connected to. Link-local, metadata, unspecified,
 * broadcast and multicast addresses are always refused; every other non-public range (loopback,
 * private, unique-local, CGNAT, documentation, reserved...) only when `allowPrivateHosts` is false.
 * IPv6 forms that carry an IPv4 address (mapped, NAT64, 6to4, IPv4-compatible) are judged by it too.
 *
 * @example checkAddress('::ffff:169.254.169.254', { allowPrivateHosts: true }) // { ok: false, ... }
 */
export function checkAddress(address: string, options: GuardOptions): GuardResult {
  if (!ipaddr.isValid(address)) return { ok: false, reason: 'invalid address refused' };
  // process() turns IPv4-mapped IPv6 into plain IPv4, so both forms meet the same rules.
  const ip = ipaddr.process(address);
  const embedded = ip.kind() === 'ipv6' ? embeddedIPv4(ip as ipaddr.IPv6) : null;
  const refusal = alwaysRefused(ip) ?? (embedded && alwaysRefused(embedded));
  if (refusal) return { ok: false, reason: refusal };
  if (ip.range() !== 'unicast' || embedded) {
    return options.allowPrivateHosts ? { ok: true } : { ok: false, reason: PRIVATE_REFUSED };
  }
  return { ok: true };
}

/**
 * Checks what can be known about a URL before any DNS lookup: http(s) only, no credentials
 * (they would leak into logs and stored datasources), an IP literal host passes
 * {@link checkAddress}, and only ports 80/443 unless `allowPrivateHosts` (other ports are how
 * internal admin services are reached; local dev servers need them).
 */
export function checkUrl(url: URL, options: GuardOptions): GuardResult {
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    return { ok: false, reason: `Unsupported URL scheme ${url.protocol.slice(0, -1)}` };
  }
  if (url.username || url.password) return { ok: false, reason: 'URLs with credentials are not supported' };
  const host = unbracket(url.hostname);
  if (isIP(host)) {
    const result = checkAddress(host, options);
    if (!result.ok) return result;
  }
  if (!options.allowPrivateHosts && !ALLOWED_PORTS.has(url.port)) {
    return { ok: false, reason: `Port ${url.port} refused (only 80 and 443)` };
  }
  return { ok: true };
}

/**
 * A DNS lookup for `net.connect` that resolves once and fails unless every resolved address
 * passes {@link checkAddress}. The socket then connects to exactly those addresses, so a
 * second, rebinding answer is never asked for.
 */
export function guardedLookup(options: GuardOptions): LookupFunction {
  return (hostname, lookupOptions, callback) => {
    dnsLookup(hostname, { ...lookupOptions, all: true }, (error, addresses) => {
      if (error || addresses.length === 0) {
        callback(new IngestError(`DNS lookup failed for ${hostname}`, { cause: error }), '');
        return;
      }
      for (const { address } of addresses) {
        const result = checkAddress(address, options);
        if (!result.ok) return callback(new IngestError(result.reason), '');
      }
      // Node asks for all addresses when it races IPv4 and IPv6 (autoSelectFamily), else for one.
      if (lookupOptions.all) return callback(null, addresses);
      const [first] = addresses as [(typeof addresses)[0]];
      callback(null, first.address, first.family);
    });
  };
}

function alwaysRefused(ip: ipaddr.IPv4 | ipaddr.IPv6): string | null {
  if (ip.range() === 'linkLocal' || METADATA_ADDRESSES.has(ip.toNormalizedString())) return METADATA_REFUSED;
  if (NON_UNICAST.has(ip.range())) return NON_UNICAST_REFUSED;
  return null;
}

/** The IPv4 address an IPv6 address routes to or stands for, where one is embedded. */
function embeddedIPv4(ip: ipaddr.IPv6): ipaddr.IPv4 | null {
  const bytes = ip.toByteArray();
  const v4 = (offset: number) => new ipaddr.IPv4(bytes.slice(offset, offset + 4));
  const range = ip.range();
  if (range === 'rfc6145' || range === 'rfc6052') return v4(12); // SIIT and NAT64 translation
  if (range === '6to4') return v4(2);
  // Deprecated IPv4-compatible ::a.b.c.d (ipaddr.js calls it unicast); :: and ::1 are not it.
  if (bytes.slice(0, 12).every((b) => b === 0) && range !== 'unspecified' && range !== 'loopback')
    return v4(12);
  return null;
}

/** A URL's hostname without the brackets of an IPv6 literal. */
export function unbracket(host: string): string {
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
}
