import { createHash } from 'node:crypto';

/** The hash that identifies a record's text (the reference system's `content_hash`). */
export function contentHash(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}
