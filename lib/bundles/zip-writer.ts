import { createHash } from 'node:crypto';
import { Zip, ZipDeflate } from 'fflate';
import type { ByteChannel } from './channel.ts';
import {
  BUNDLE_FORMAT,
  BUNDLE_VERSION,
  type BundleType,
  MANIFEST,
  type ManifestEntry,
  signManifest,
} from './format.ts';

/** One entry being written: its bytes are deflated, hashed and counted as they come. */
export class EntryWriter {
  private readonly file: ZipDeflate;
  private readonly hash = createHash('sha256');
  private bytes = 0;
  private pending: Uint8Array[] = [];
  private pendingBytes = 0;

  constructor(
    private readonly bundle: BundleWriter,
    readonly path: string,
  ) {
    this.file = new ZipDeflate(path, { level: 6 });
    bundle.zip.add(this.file);
  }

  /** Adds bytes; small writes are gathered so deflate sees sizeable chunks. */
  async write(data: Uint8Array | string): Promise<void> {
    const bytes = typeof data === 'string' ? Buffer.from(data) : data;
    this.hash.update(bytes);
    this.bytes += bytes.length;
    this.pending.push(bytes);
    this.pendingBytes += bytes.length;
    if (this.pendingBytes >= 256 * 1024) {
      this.flush(false);
      await this.bundle.out.drained();
    }
  }

  /** A line of JSON Lines. */
  writeLine(value: unknown): Promise<void> {
    return this.write(`${JSON.stringify(value)}\n`);
  }

  private flush(final: boolean): void {
    const chunk = this.pending.length === 1 ? this.pending[0]! : Buffer.concat(this.pending);
    this.pending = [];
    this.pendingBytes = 0;
    this.file.push(chunk, final);
  }

  async close(): Promise<ManifestEntry> {
    this.flush(true);
    await this.bundle.out.drained();
    const entry = { path: this.path, sha256: this.hash.digest('hex'), bytes: this.bytes };
    this.bundle.entries.push(entry);
    return entry;
  }
}

/**
 * Writes a bundle as a ZIP stream into `out`, one entry at a time (fflate cannot interleave
 * entries), and finishes with the signed manifest. Memory stays at a few MB however large.
 */
export class BundleWriter {
  readonly zip: Zip;
  readonly entries: ManifestEntry[] = [];

  constructor(readonly out: ByteChannel) {
    this.zip = new Zip((error, data, final) => {
      if (error) return out.close(error);
      out.push(data);
      if (final) out.close();
    });
  }

  entry(path: string): EntryWriter {
    return new EntryWriter(this, path);
  }

  /** Writes the manifest (signed with `key`) and ends the archive. */
  async finish(type: BundleType, key: string, exportedAt: Date): Promise<void> {
    const manifest = {
      format: BUNDLE_FORMAT,
      version: BUNDLE_VERSION,
      type,
      exported_at: exportedAt.toISOString(),
      entries: this.entries,
      signature: signManifest(key, type, this.entries),
    };
    const file = new ZipDeflate(MANIFEST, { level: 6 });
    this.zip.add(file);
    file.push(Buffer.from(JSON.stringify(manifest, null, 1)), true);
    this.zip.end();
    await this.out.drained();
  }
}
