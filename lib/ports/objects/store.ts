import type { Readable } from 'node:stream';

/** A browser-ready upload: a form POST with `fields` first, then `file`. */
export type PresignedUpload = {
  method: 'POST';
  url: string;
  fields: Record<string, string>;
  expires_at: string;
  max_bytes: number;
};

export type ObjectInfo = { key: string; size: number; etag: string };

/** Thrown by reads of a key that does not exist. */
export class ObjectNotFoundError extends Error {
  override name = 'ObjectNotFoundError';
  constructor(
    readonly key: string,
    options?: ErrorOptions,
  ) {
    super(`No object at ${key}`, options);
  }
}

/** Where uploaded documents live: S3 in aws, files under DATA_DIR locally. */
export interface ObjectStore {
  /** Whether {@link presignDownload} gives URLs (S3) or not (local files: stream them). */
  readonly signsDownloads: boolean;
  /** A POST the client sends the file with; the size limit is part of the signed policy. */
  presignUpload(key: string, options: { maxBytes: number; expiresSeconds: number }): Promise<PresignedUpload>;
  /** Stores bytes under `key` (the multipart API path, tests). */
  put(key: string, body: Buffer, contentType?: string): Promise<ObjectInfo>;
  /**
   * Stores a stream of bytes under `key` without holding it whole (bundles): S3 multipart
   * parts of {@link STREAM_PART_BYTES}, or a file written as it comes.
   */
  putStream(key: string, body: AsyncIterable<Uint8Array>, contentType?: string): Promise<ObjectInfo>;
  /**
   * A short-lived URL that downloads the object whichever the store: S3's presigned GET, or
   * the local runtime's signed download route (which streams the file).
   */
  downloadLink(key: string, filename: string, expiresSeconds: number): Promise<string>;
  /** Streams an object's bytes. */
  read(key: string): Promise<Readable>;
  head(key: string): Promise<ObjectInfo | undefined>;
  /** A short-lived download URL, or undefined when the store cannot sign one (then stream it). */
  presignDownload(key: string, filename: string): Promise<string | undefined>;
  /**
   * Copies an object to another key, without announcing it as an upload (S3 notifies the copy;
   * the ingest worker ignores stored-file keys).
   */
  copy(from: string, to: string): Promise<void>;
  /** Deletes one object; a missing key is not an error. */
  delete(key: string): Promise<void>;
  /** Deletes every object whose key starts with `prefix`. */
  deletePrefix(prefix: string): Promise<void>;
}

/** S3 multipart parts are at least 5 MiB (the last aside): 8 MiB keeps few parts and little memory. */
export const STREAM_PART_BYTES = 8 * 1024 * 1024;

/** Reads a whole object stream into memory (PDFs, which pdf.js needs whole; small downloads). */
export async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream)
    chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as Uint8Array));
  return Buffer.concat(chunks);
}
