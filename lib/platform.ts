import { config } from '#lib/config.ts';
import { S3ObjectStore } from '#lib/ports/objects/s3.ts';
import type { ObjectStore } from '#lib/ports/objects/store.ts';
import type { QueueSender } from '#lib/ports/queue/queue.ts';
import { SqsQueueSender } from '#lib/ports/queue/sqs.ts';

/** The adapters a handler reaches the outside world through. Handlers never know which. */
export type Platform = { objects: ObjectStore; queue: QueueSender };

let current: Platform | undefined;

/**
 * The process's adapters. On `aws` (Lambda, or LocalStack/moto through AWS_ENDPOINT_URL) they
 * are built on first use; on `local` the local runtime builds them at start and sets them.
 */
export function platform(): Platform {
  if (!current) {
    const c = config();
    if (c.platform !== 'aws')
      throw new Error('The local platform is not started (the local runtime sets it)');
    current = { objects: new S3ObjectStore(c.uploadsBucket), queue: new SqsQueueSender() };
  }
  return current;
}

/** Installs the adapters (local runtime, tests). */
export function setPlatform(next: Platform | undefined): void {
  current = next;
}
