import { Unzip, UnzipInflate } from 'fflate';
import { BundleError } from './errors.ts';
import type { BundleLimits } from './format.ts';

/** What reading an archive yields, in archive order: each entry's start, its bytes, its end. */
export type ZipEvent =
  | { type: 'start'; path: string }
  | { type: 'data'; path: string; chunk: Uint8Array }
  | { type: 'end'; path: string };

/** Compressed bytes handed to the inflater at a time: what one step may inflate is bounded by it. */
const STEP_BYTES = 16 * 1024;
const ZIP_MAGIC = [0x50, 0x4b, 0x03, 0x04];

/** Whether bytes start like a ZIP archive. */
export function looksLikeZip(head: Uint8Array): boolean {
  return ZIP_MAGIC.every((b, i) => head[i] === b);
}

/**
 * Reads a ZIP stream entry by entry under `limits`, trusting none of its headers: entries
 * are counted as they start, decompressed bytes as they inflate (total and ratio to the
 * archive's size), and a broken archive is a {@link BundleError}. The caller's `visit` sees
 * each step's events before the next compressed bytes are read, so it may await (insert
 * rows) without the archive racing ahead.
 */
export async function readZip(
  source: AsyncIterable<Uint8Array>,
  archiveBytes: number,
  limits: BundleLimits,
  visit: (event: ZipEvent) => Promise<void> | void,
): Promise<void> {
  let events: ZipEvent[] = [];
  let failure: BundleError | undefined;
  let entries = 0;
  let inflated = 0;
  let open: string | undefined;
  const seen = new Set<string>();
  const fail = (reason: string) => {
    failure ??= new BundleError(reason);
  };
  const unzip = new Unzip((file) => {
    if (failure) return;
    entries += 1;
    if (entries > limits.maxEntries) return fail(`The archive holds more than ${limits.maxEntries} entries`);
    if (seen.has(file.name)) return fail(`Entry ${JSON.stringify(file.name)} appears twice`);
    seen.add(file.name);
    if (file.compression !== 0 && file.compression !== 8)
      return fail(`Entry ${JSON.stringify(file.name)} uses an unsupported compression (${file.compression})`);
    events.push({ type: 'start', path: file.name });
    open = file.name;
    file.ondata = (error, chunk, final) => {
      if (failure) return;
      if (error) return fail(`The archive is malformed: ${error.message} (in ${file.name})`);
      inflated += chunk.length;
      if (inflated > limits.maxUncompressedBytes) {
        file.terminate();
        return fail(`The archive inflates past ${limits.maxUncompressedBytes} bytes (zip bomb)`);
      }
      if (inflated > limits.ratioFloorBytes && inflated > archiveBytes * limits.maxRatio) {
        file.terminate();
        return fail(`The archive inflates more than ${limits.maxRatio} times its size (zip bomb)`);
      }
      if (chunk.length > 0) events.push({ type: 'data', path: file.name, chunk });
      if (final) {
        events.push({ type: 'end', path: file.name });
        open = undefined;
      }
    };
    file.start();
  });
  unzip.register(UnzipInflate);

  const step = async (chunk: Uint8Array, final: boolean) => {
    try {
      unzip.push(chunk, final);
    } catch (error) {
      fail(`The archive is malformed: ${(error as Error).message}`);
    }
    if (failure) throw failure;
    const batch = events;
    events = [];
    for (const event of batch) await visit(event);
  };

  let first = true;
  for await (const piece of source) {
    const bytes = piece instanceof Uint8Array ? piece : Buffer.from(piece as string);
    if (first && bytes.length > 0) {
      if (!looksLikeZip(bytes)) throw new BundleError('The bundle is not a ZIP archive');
      first = false;
    }
    for (let at = 0; at < bytes.length; at += STEP_BYTES)
      await step(bytes.subarray(at, at + STEP_BYTES), false);
  }
  if (first) throw new BundleError('The bundle is empty');
  await step(new Uint8Array(0), true);
  if (open !== undefined)
    throw new BundleError(`The archive ends inside entry ${JSON.stringify(open)} (truncated)`);
  if (entries === 0) throw new BundleError('The archive holds no entries (malformed)');
}
