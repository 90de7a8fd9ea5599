import type { PurgeObjects } from '#lib/ingest/messages.ts';
import { logger } from '#lib/logger.ts';
import type { Platform } from '#lib/platform.ts';

/** Removes the stored objects of owners whose rows were just deleted. */
export type Purge = (prefixes: string[]) => Promise<void>;

/**
 * Queues a purge of each folder (the ingest worker lists and deletes under it, idempotently).
 * Called after the owner's delete commits: a worker never purges the folder of a row that
 * still exists, and refuses to if it does. If the queue refuses, the folders are deleted here;
 * if that fails too, the answer stays a success (the rows are gone) and the log names what is
 * left, and any upload that still arrives there is deleted as a stray by the worker.
 */
export function purgeFolders(adapters: Pick<Platform, 'queue' | 'objects'>, ingestQueue: string): Purge {
  return async (prefixes) => {
    if (prefixes.length === 0) return;
    const messages: PurgeObjects[] = prefixes.map((prefix) => ({ kind: 'purge_objects', prefix }));
    try {
      await adapters.queue.send(ingestQueue, messages);
    } catch (queueError) {
      try {
        await Promise.all(prefixes.map((prefix) => adapters.objects.deletePrefix(prefix)));
      } catch (error) {
        logger.error('Objects of deleted owners left in the store', {
          prefixes,
          error: error as Error,
          queue_error: queueError as Error,
        });
      }
    }
  };
}
