import type { Config } from '#lib/config.ts';
import { deferred } from '#lib/ports/deferred.ts';
import { LocalEventPublisher } from './local.ts';
import type { EventPublisher } from './publisher.ts';

export type { EventPublisher } from './publisher.ts';

/** The publisher of the platform: the stack's bus on aws when EVENT_BUS_NAME is set. */
export function eventPublisher(config: Pick<Config, 'platform' | 'eventBusName'>): EventPublisher {
  const bus = config.eventBusName;
  // EventBridge's client is imported by the first publish, not by every start of the worker.
  if (config.platform === 'aws' && bus)
    return deferred<EventPublisher>(
      async () => new (await import('./aws.ts')).EventBridgeEventPublisher(bus),
      {
        publish: true,
      },
    );
  return new LocalEventPublisher();
}
