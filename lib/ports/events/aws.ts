import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import type { LifecycleEvent } from '#lib/events/types.ts';
import type { EventPublisher } from './publisher.ts';

/** The `source` of every event docsift puts on its bus: rules match on it and the detail type. */
export const EVENT_SOURCE = 'docsift';
/** PutEvents takes at most 10 entries a call and 256 KB an entry. */
const BATCH = 10;
const MAX_ENTRY_BYTES = 256 * 1024;

/** Puts events on the stack's bus (EVENT_BUS_NAME), failing loudly when an entry is refused. */
export class EventBridgeEventPublisher implements EventPublisher {
  constructor(
    private readonly busName: string,
    private readonly client = new EventBridgeClient({}),
  ) {}

  async publish(events: LifecycleEvent[]): Promise<void> {
    const entries = events.map((event) => {
      let detail = JSON.stringify(event);
      // Counts are the only unbounded part: an oversized event goes out without them.
      if (Buffer.byteLength(detail) > MAX_ENTRY_BYTES - 1024) {
        detail = JSON.stringify({ ...event, data: { ...event.data, counts: {}, counts_truncated: true } });
      }
      return {
        EventBusName: this.busName,
        Source: EVENT_SOURCE,
        DetailType: event.type,
        Detail: detail,
        Time: new Date(event.occurred_at),
      };
    });
    for (let i = 0; i < entries.length; i += BATCH) {
      const out = await this.client.send(new PutEventsCommand({ Entries: entries.slice(i, i + BATCH) }));
      if (out.FailedEntryCount) {
        const failed = out.Entries?.find((e) => e.ErrorCode);
        throw new Error(`EventBridge refused ${out.FailedEntryCount} events: ${failed?.ErrorMessage}`);
      }
    }
  }
}
