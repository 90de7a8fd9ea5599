import type { Config } from '#lib/config.ts';
import { EventBridgeEventPublisher } from './aws.ts';
import { LocalEventPublisher } from './local.ts';
import type { EventPublisher } from './publisher.ts';

export type { EventPublisher } from './publisher.ts';

/** The publisher of the platform: the stack's bus on aws when EVENT_BUS_NAME is set. */
export function eventPublisher(config: Pick<Config, 'platform' | 'eventBusName'>): EventPublisher {
  if (config.platform === 'aws' && config.eventBusName)
    return new EventBridgeEventPublisher(config.eventBusName);
  return new LocalEventPublisher();
}
