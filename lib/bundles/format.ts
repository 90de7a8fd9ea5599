import { createHmac, timingSafeEqual } from 'node:crypto';
import * as z from 'zod';
import { BundleError } from './errors.ts';

/** What `manifest.json` says the archive is. */
export const BUNDLE_FORMAT = 'docsift-bundle';
export const BUNDLE_VERSION = 1;
export const MANIFEST = 'manifest.json';

/** The kinds of bundle: what an export was asked for. */
export const BUNDLE_TYPES = ['datasource', 'scheme', 'classification_job', 'dataset', 'workspace'] as const;
export type BundleType = (typeof BUNDLE_TYPES)[number];

/** What an import refuses beyond: checked while decompressing, never from the archive's headers. */
export type BundleLimits = {
  /** The archive as uploaded. */
  maxBytes: number;
  /** Every entry decompressed, counted as it inflates. */
  maxUncompressedBytes: number;
  maxEntries: number;
  /** Decompressed bytes per archive byte, checked once past `ratioFloorBytes`. */
  maxRatio: number;
  ratioFloorBytes: number;
};

export const DEFAULT_LIMITS: Omit<BundleLimits, 'maxBytes' | 'maxUncompressedBytes'> = {
  maxEntries: 50_000,
  // JSONL of similar records compresses 10-50×; a zip bomb 1,000× and more.
  maxRatio: 200,
  ratioFloorBytes: 16 * 1024 * 1024,
};

const Sha256 = z.string().regex(/^[0-9a-f]{64}$/);

export const ManifestEntry = z.strictObject({
  path: z.string().min(1).max(400),
  sha256: Sha256,
  bytes: z.number().int().min(0),
});
export type ManifestEntry = z.output<typeof ManifestEntry>;

export const Manifest = z.object({
  format: z.literal(BUNDLE_FORMAT),
  version: z.number().int(),
  type: z.enum(BUNDLE_TYPES),
  exported_at: z.string(),
  entries: z.array(ManifestEntry),
  signature: z.string().optional(),
});
export type Manifest = z.output<typeof Manifest>;

/** What an entry's path says it holds: the importer of each kind is chosen by it. */
export type EntryKind =
  | { kind: 'schemes' }
  | { kind: 'datasources' }
  | { kind: 'jobs' }
  | { kind: 'datasets' }
  | { kind: 'records'; owner: string }
  | { kind: 'members'; owner: string }
  | { kind: 'results'; owner: string }
  | { kind: 'file'; owner: string; name: string };

const ID = '[A-Za-z0-9_-]{1,64}';
const PATTERNS: [RegExp, (m: RegExpExecArray) => EntryKind][] = [
  [/^schemes\.jsonl$/, () => ({ kind: 'schemes' })],
  [/^datasources\.jsonl$/, () => ({ kind: 'datasources' })],
  [/^jobs\.jsonl$/, () => ({ kind: 'jobs' })],
  [/^datasets\.jsonl$/, () => ({ kind: 'datasets' })],
  [new RegExp(`^records/(${ID})\\.jsonl$`), (m) => ({ kind: 'records', owner: m[1]! })],
  [new RegExp(`^results/(${ID})\\.jsonl$`), (m) => ({ kind: 'results', owner: m[1]! })],
  [new RegExp(`^members/(${ID})\\.jsonl$`), (m) => ({ kind: 'members', owner: m[1]! })],
  [
    new RegExp(`^files/(${ID})/([A-Za-z0-9_.-]{1,200})$`),
    (m) => ({ kind: 'file', owner: m[1]!, name: m[2]! }),
  ],
];

/**
 * The kind of an entry, or a {@link BundleError}: absolute paths, `..`, backslashes, control
 * characters and anything outside the known layout are refused before a byte is read.
 */
export function entryKind(path: string): EntryKind {
  if (
    path.startsWith('/') ||
    path.includes('\\') ||
    /(^|\/)\.\.?(\/|$)/.test(path) ||
    [...path].some((c) => c.charCodeAt(0) < 0x20)
  )
    throw new BundleError(`Entry ${JSON.stringify(path)} is outside the bundle (path traversal)`);
  for (const [pattern, kind] of PATTERNS) {
    const match = pattern.exec(path);
    if (match) return kind(match);
  }
  throw new BundleError(`Entry ${JSON.stringify(path)} is not part of the bundle format`);
}

/** The manifest's entries as signed: sorted by path, one `path sha256 bytes` line each. */
function canonicalEntries(type: string, entries: ManifestEntry[]): string {
  const lines = [...entries]
    .sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0))
    .map((e) => `${e.path}\t${e.sha256}\t${e.bytes}`);
  return `${BUNDLE_FORMAT}/${BUNDLE_VERSION}\t${type}\n${lines.join('\n')}`;
}

/** The manifest's signature: HMAC-SHA256 of its canonical entries with the instance's key. */
export function signManifest(key: string, type: string, entries: ManifestEntry[]): string {
  return createHmac('sha256', `bundle:${key}`).update(canonicalEntries(type, entries)).digest('hex');
}

/** Whether a manifest was signed by this instance (`unverified`: unsigned, e.g. another instance's). */
export function verifyManifest(key: string, manifest: Manifest): 'verified' | 'unverified' | 'invalid' {
  if (!manifest.signature) return 'unverified';
  const expected = Buffer.from(signManifest(key, manifest.type, manifest.entries));
  const given = Buffer.from(manifest.signature);
  if (expected.length === given.length && timingSafeEqual(expected, given)) return 'verified';
  // Another instance's key and a tampered manifest look alike: both are "invalid" here.
  return 'invalid';
}
