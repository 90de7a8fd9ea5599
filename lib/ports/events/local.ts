import type { EventPublisher } from './publisher.ts';

/**
 * The local runtime has no bus: the outbox dispatcher hands events to the webhooks only
 * (lib/events/outbox.ts fans out to them on every platform), so this publishes nothing more.
 */
export class LocalEventPublisher implements EventPublisher {
  async publish(): Promise<void> {}
}
