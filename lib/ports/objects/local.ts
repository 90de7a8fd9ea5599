import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { copyFile, mkdir, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { type ObjectInfo, ObjectNotFoundError, type ObjectStore, type PresignedUpload } from './store.ts';

/** The path the local runtime serves presigned uploads on (its stand-in for the S3 endpoint). */
export const LOCAL_UPLOAD_PATH = '/local/uploads';
/** The path the local runtime serves signed downloads on (its stand-in for a presigned GET). */
export const LOCAL_DOWNLOAD_PATH = '/local/downloads';

export type UploadPolicy = { key: string; max_bytes: number; expires_at: string };

/**
 * The object store on the local disk: objects are files under `root`, keyed by path. Uploads
 * are signed form POSTs to the local runtime, with the same field order and size limit as S3's.
 */
export class LocalObjectStore implements ObjectStore {
  readonly signsDownloads = false;
  constructor(
    private readonly root: string,
    private readonly baseUrl: string,
    private readonly signingKey: string,
    /** Called for every stored object: the local equivalent of the bucket's event notification. */
    private readonly onCreated: (info: ObjectInfo) => Promise<void> = async () => {},
  ) {}

  /** The file of a key; keys never escape the root. */
  pathOf(key: string): string {
    const resolved = path.resolve(this.root, key);
    if (!resolved.startsWith(path.resolve(this.root) + path.sep)) throw new ObjectNotFoundError(key);
    return resolved;
  }

  async presignUpload(
    key: string,
    options: { maxBytes: number; expiresSeconds: number },
  ): Promise<PresignedUpload> {
    const expires_at = new Date(Date.now() + options.expiresSeconds * 1000).toISOString();
    const policy = Buffer.from(JSON.stringify({ key, max_bytes: options.maxBytes, expires_at })).toString(
      'base64url',
    );
    return {
      method: 'POST',
      url: `${this.baseUrl}${LOCAL_UPLOAD_PATH}`,
      fields: { key, policy, signature: this.sign(policy) },
      expires_at,
      max_bytes: options.maxBytes,
    };
  }

  /** Checks a form's policy and signature: the policy, or why it is refused. */
  verifyUpload(
    fields: Record<string, string>,
  ): { ok: true; policy: UploadPolicy } | { ok: false; reason: string } {
    const { policy, signature, key } = fields;
    if (!policy || !signature || !key)
      return { ok: false, reason: 'The form needs key, policy and signature fields' };
    const expected = Buffer.from(this.sign(policy));
    const given = Buffer.from(signature);
    if (expected.length !== given.length || !timingSafeEqual(expected, given)) {
      return { ok: false, reason: 'Invalid signature' };
    }
    const parsed = JSON.parse(Buffer.from(policy, 'base64url').toString()) as UploadPolicy;
    if (parsed.key !== key) return { ok: false, reason: 'The key does not match the policy' };
    if (Date.parse(parsed.expires_at) < Date.now())
      return { ok: false, reason: 'The upload URL has expired' };
    return { ok: true, policy: parsed };
  }

  /** Checks a download link's query: the key and file name, or why it is refused. */
  verifyDownload(
    query: URLSearchParams,
  ): { ok: true; key: string; filename: string } | { ok: false; reason: string } {
    const key = query.get('key') ?? '';
    const filename = query.get('filename') ?? '';
    const expires = query.get('expires') ?? '';
    const expected = Buffer.from(this.sign(`download:${key}\n${filename}\n${expires}`));
    const given = Buffer.from(query.get('signature') ?? '');
    if (expected.length !== given.length || !timingSafeEqual(expected, given))
      return { ok: false, reason: 'Invalid signature' };
    if (Number(expires) < Date.now()) return { ok: false, reason: 'The download link has expired' };
    return { ok: true, key, filename };
  }

  async downloadLink(key: string, filename: string, expiresSeconds: number): Promise<string> {
    const expires = String(Date.now() + expiresSeconds * 1000);
    const query = new URLSearchParams({ key, filename, expires });
    query.set('signature', this.sign(`download:${key}\n${filename}\n${expires}`));
    return `${this.baseUrl}${LOCAL_DOWNLOAD_PATH}?${query}`;
  }

  async putStream(key: string, body: AsyncIterable<Uint8Array>): Promise<ObjectInfo> {
    const file = this.pathOf(key);
    await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
    const partial = `${file}.partial-${process.pid}`;
    const md5 = createHash('md5');
    let size = 0;
    const counted = async function* () {
      for await (const chunk of body) {
        md5.update(chunk);
        size += chunk.length;
        yield chunk;
      }
    };
    try {
      await pipeline(Readable.from(counted()), createWriteStream(partial, { mode: 0o600 }));
    } catch (error) {
      await rm(partial, { force: true });
      throw error;
    }
    await rename(partial, file);
    const info = { key, size, etag: md5.digest('hex') };
    await this.onCreated(info);
    return info;
  }

  private sign(policy: string): string {
    return createHmac('sha256', this.signingKey).update(`upload:${policy}`).digest('base64url');
  }

  async put(key: string, body: Buffer): Promise<ObjectInfo> {
    const file = this.pathOf(key);
    // Owner only (folders 0700, files 0600): uploads are tenants' documents.
    await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
    // Written aside and renamed: a reader never sees half a file.
    const partial = `${file}.partial-${process.pid}`;
    await writeFile(partial, body, { mode: 0o600 });
    await rename(partial, file);
    const info = { key, size: body.length, etag: createHash('md5').update(body).digest('hex') };
    await this.onCreated(info);
    return info;
  }

  async read(key: string): Promise<Readable> {
    const file = this.pathOf(key);
    await stat(file).catch(() => {
      throw new ObjectNotFoundError(key);
    });
    return createReadStream(file);
  }

  async head(key: string): Promise<ObjectInfo | undefined> {
    try {
      const info = await stat(this.pathOf(key));
      return { key, size: info.size, etag: `${info.size}-${info.mtimeMs}` };
    } catch {
      return undefined;
    }
  }

  async presignDownload(): Promise<undefined> {
    return undefined;
  }

  async copy(from: string, to: string): Promise<void> {
    const source = this.pathOf(from);
    const target = this.pathOf(to);
    await mkdir(path.dirname(target), { recursive: true, mode: 0o700 });
    const partial = `${target}.partial-${process.pid}`;
    await copyFile(source, partial).catch((cause) => {
      throw new ObjectNotFoundError(from, { cause });
    });
    await rename(partial, target);
  }

  async delete(key: string): Promise<void> {
    await rm(this.pathOf(key), { force: true });
  }

  async deletePrefix(prefix: string): Promise<void> {
    // Keys are paths; a prefix ending in "/" is a folder.
    const target = this.pathOf(prefix.replace(/\/$/, ''));
    if (prefix.endsWith('/')) {
      await rm(target, { recursive: true, force: true });
      return;
    }
    const dir = path.dirname(target);
    const base = path.basename(target);
    const names = await readdir(dir).catch(() => [] as string[]);
    await Promise.all(
      names
        .filter((n) => n.startsWith(base))
        .map((n) => rm(path.join(dir, n), { recursive: true, force: true })),
    );
  }
}
