import type { LifecycleEvent } from '#lib/events/types.ts';

/** Where lifecycle events go beyond the webhooks: the stack's EventBridge bus in aws; nowhere more locally. */
export interface EventPublisher {
  publish(events: LifecycleEvent[]): Promise<void>;
}
