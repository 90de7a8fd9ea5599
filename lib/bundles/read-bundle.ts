import { createHash, type Hash } from 'node:crypto';
import { TextDecoder } from 'node:util';
import { ByteChannel } from './channel.ts';
import { BundleError } from './errors.ts';
import {
  BUNDLE_FORMAT,
  BUNDLE_VERSION,
  type BundleLimits,
  type EntryKind,
  entryKind,
  MANIFEST,
  Manifest,
} from './format.ts';
import type { ImportSession } from './importer.ts';
import type { RowEntries } from './reference.ts';
import { readZip } from './zip-reader.ts';

const MAX_MANIFEST_BYTES = 16 * 1024 * 1024;
const MAX_LINE_CHARS = 64 * 1024 * 1024;

/**
 * First pass over a ZIP bundle, before any row is written: every entry's path, the archive's
 * limits, and each entry's SHA-256 and size against the manifest's (which must state this
 * format and version). Returns the manifest.
 */
export async function verifyZip(
  source: AsyncIterable<Uint8Array>,
  archiveBytes: number,
  limits: BundleLimits,
): Promise<Manifest> {
  const found = new Map<string, { sha256: string; bytes: number }>();
  let hash: Hash | undefined;
  let bytes = 0;
  let manifestChunks: Uint8Array[] | undefined;
  let manifestBytes = 0;
  await readZip(source, archiveBytes, limits, (event) => {
    if (event.type === 'start') {
      if (event.path === MANIFEST) manifestChunks = [];
      else entryKind(event.path);
      hash = createHash('sha256');
      bytes = 0;
    } else if (event.type === 'data') {
      hash!.update(event.chunk);
      bytes += event.chunk.length;
      if (event.path === MANIFEST) {
        manifestBytes += event.chunk.length;
        if (manifestBytes > MAX_MANIFEST_BYTES) throw new BundleError('manifest.json is too large');
        manifestChunks!.push(event.chunk);
      }
    } else if (event.path !== MANIFEST) {
      found.set(event.path, { sha256: hash!.digest('hex'), bytes });
    }
  });
  if (!manifestChunks) throw new BundleError('The archive has no manifest.json');
  let raw: unknown;
  try {
    raw = JSON.parse(Buffer.concat(manifestChunks).toString('utf8'));
  } catch {
    throw new BundleError('manifest.json is not JSON');
  }
  const head = raw as { format?: unknown; version?: unknown };
  if (head?.format !== BUNDLE_FORMAT) throw new BundleError(`manifest.json: format is not ${BUNDLE_FORMAT}`);
  if (head.version !== BUNDLE_VERSION)
    throw new BundleError(
      `Bundle version ${JSON.stringify(head.version)} is not supported (this instance reads version ${BUNDLE_VERSION})`,
    );
  const manifest = Manifest.safeParse(raw);
  if (!manifest.success) {
    const issue = manifest.error.issues[0]!;
    throw new BundleError(`manifest.json: ${issue.path.join('.')}: ${issue.message}`);
  }
  const listed = new Set<string>();
  for (const entry of manifest.data.entries) {
    listed.add(entry.path);
    const actual = found.get(entry.path);
    if (!actual) throw new BundleError(`The manifest lists ${entry.path}, which the archive does not hold`);
    if (actual.sha256 !== entry.sha256 || actual.bytes !== entry.bytes)
      throw new BundleError(`Checksum mismatch for ${entry.path}`);
  }
  for (const path of found.keys())
    if (!listed.has(path))
      throw new BundleError(`The archive holds ${path}, which the manifest does not list`);
  return manifest.data;
}

/**
 * Second pass: streams the entries into the import, a step at a time (rows are inserted
 * before more is inflated). Checksums are checked again as the bytes go by, so an archive
 * swapped between the passes still fails (and rolls the import back).
 */
export async function importZip(
  session: ImportSession,
  source: AsyncIterable<Uint8Array>,
  archiveBytes: number,
  limits: BundleLimits,
  manifest: Manifest,
): Promise<void> {
  const expected = new Map(manifest.entries.map((e) => [e.path, e]));
  let current:
    | {
        kind: EntryKind;
        hash: Hash;
        bytes: number;
        decoder?: TextDecoder;
        partial: string;
        line: number;
        file?: { channel: ByteChannel; done: Promise<void> };
      }
    | undefined;

  const rows = async (text: string, path: string) => {
    const c = current!;
    c.partial += text;
    if (c.partial.length > MAX_LINE_CHARS) throw new BundleError(`${path} line ${c.line + 1} is too long`);
    let nl = c.partial.indexOf('\n');
    while (nl >= 0) {
      const line = c.partial.slice(0, nl);
      c.partial = c.partial.slice(nl + 1);
      c.line += 1;
      if (line.trim()) await session.row(c.kind, parseLine(line, path, c.line), `${path} line ${c.line}`);
      nl = c.partial.indexOf('\n');
    }
  };

  await readZip(source, archiveBytes, limits, async (event) => {
    if (event.path === MANIFEST) return;
    if (event.type === 'start') {
      const kind = entryKind(event.path);
      current = { kind, hash: createHash('sha256'), bytes: 0, partial: '', line: 0 };
      if (kind.kind === 'file') {
        const channel = new ByteChannel(4 * 1024 * 1024);
        const done = session.file(kind, channel);
        done.catch(() => undefined);
        current.file = { channel, done };
      } else current.decoder = new TextDecoder('utf-8', { fatal: true });
      return;
    }
    const c = current!;
    if (event.type === 'data') {
      c.hash.update(event.chunk);
      c.bytes += event.chunk.length;
      if (c.file) {
        c.file.channel.push(event.chunk);
        await Promise.race([c.file.channel.drained(), c.file.done]);
        return;
      }
      let text: string;
      try {
        text = c.decoder!.decode(event.chunk, { stream: true });
      } catch {
        throw new BundleError(`${event.path} is not UTF-8`);
      }
      await rows(text, event.path);
      return;
    }
    const entry = expected.get(event.path);
    if (!entry || entry.sha256 !== c.hash.digest('hex') || entry.bytes !== c.bytes)
      throw new BundleError(`Checksum mismatch for ${event.path}`);
    if (c.file) {
      c.file.channel.close();
      await c.file.done;
    } else {
      await rows(`${c.decoder!.decode()}\n`, event.path);
      await session.endEntry();
    }
    current = undefined;
  });
  await session.finish();
}

function parseLine(line: string, path: string, n: number): unknown {
  try {
    return JSON.parse(line);
  } catch {
    throw new BundleError(`${path} line ${n} is not JSON`);
  }
}

/** Imports rows held in memory (a reference export, converted). */
export async function importRows(session: ImportSession, content: RowEntries): Promise<void> {
  for (const entry of content.entries) {
    let n = 0;
    for (const row of entry.rows) {
      n += 1;
      await session.row(entry.kind, row, `${entry.path} row ${n}`);
    }
    await session.endEntry();
  }
  await session.finish();
}
