import { sql } from 'kysely';
import type { Db } from '#lib/db/database.ts';
import { newId } from '#lib/ids.ts';
import type { EventPublisher } from '#lib/ports/events/publisher.ts';
import type { QueueSender } from '#lib/ports/queue/queue.ts';
import type { DeliverWebhook, PublishEvents } from '#lib/schedule/messages.ts';
import { recordEventMetrics } from './metrics.ts';
import { LifecycleEvent, type NewEvent } from './types.ts';

/** Events a dispatch publishes at most; a backlog drains over several. */
const DISPATCH_LIMIT = 100;

/**
 * Records lifecycle events in the outbox, inside the caller's transaction (or statement): an
 * event exists exactly when its change committed, and is published later, never lost.
 */
export async function recordEvents(db: Db, events: NewEvent[]): Promise<void> {
  if (events.length === 0) return;
  await db
    .insertInto('event_outbox')
    .values(
      events.map((e) => ({
        id: newId(),
        workspace_id: e.workspace_id,
        type: e.type,
        data: JSON.stringify(e.data),
        sent_at: null,
      })),
    )
    .execute();
}

/**
 * Asks the task worker to dispatch the outbox now. Best effort, after the commit: an event whose
 * nudge is lost goes out at the next maintenance sweep.
 */
export async function nudgeDispatch(queue: QueueSender, taskQueue: string | undefined): Promise<void> {
  if (!taskQueue) return;
  const message: PublishEvents = { kind: 'publish_events' };
  await queue.send(taskQueue, [message]).catch(() => undefined);
}

/**
 * Nudges the dispatcher when events wait in the outbox: workers call it after a message, so
 * each service records its events without knowing where they go. One indexed probe when none do.
 */
export async function nudgeIfPending(db: Db, queue: QueueSender, taskQueue: string): Promise<void> {
  const waiting = await db
    .selectFrom('event_outbox')
    .select('id')
    .where('sent_at', 'is', null)
    .limit(1)
    .executeTakeFirst()
    .catch(() => undefined);
  if (waiting) await nudgeDispatch(queue, taskQueue);
}

export type DispatchDeps = {
  db: Db;
  queue: QueueSender;
  events: EventPublisher;
  settings: { taskQueue: string };
};

/**
 * Publishes unsent events: to the bus (aws), and one delivery message per subscribed, enabled
 * webhook of the event's workspace; then marks them sent. Rows are locked (SKIP LOCKED) so two
 * dispatchers never take the same ones. A failure rolls back: they stay unsent and the next
 * dispatch or sweep sends them again (at least once; receivers dedupe on the event id).
 */
export async function dispatchOutbox(deps: DispatchDeps): Promise<number> {
  const published = await deps.db.transaction().execute(async (trx) => {
    const rows = await trx
      .selectFrom('event_outbox')
      .selectAll()
      .where('sent_at', 'is', null)
      .orderBy('occurred_at')
      .limit(DISPATCH_LIMIT)
      .forUpdate()
      .skipLocked()
      .execute();
    if (rows.length === 0) return [];
    const events = rows.map((r) => toEvent(r));
    await deps.events.publish(events);
    const hooks = await trx
      .selectFrom('webhooks')
      .select(['id', 'workspace_id', 'event_types'])
      .where('enabled', '=', true)
      .where('workspace_id', 'in', [...new Set(events.map((e) => e.workspace_id))])
      .execute();
    const deliveries: DeliverWebhook[] = events.flatMap((event) =>
      hooks
        .filter((h) => h.workspace_id === event.workspace_id && h.event_types.includes(event.type))
        .map((h) => ({ kind: 'deliver_webhook' as const, webhook_id: h.id, event_id: event.id, attempt: 1 })),
    );
    if (deliveries.length > 0) await deps.queue.send(deps.settings.taskQueue, deliveries);
    await trx
      .updateTable('event_outbox')
      .set({ sent_at: sql<Date>`clock_timestamp()` })
      .where(
        'id',
        'in',
        rows.map((r) => r.id),
      )
      .execute();
    return events;
  });
  recordEventMetrics(published);
  return published.length;
}

/** An outbox row as the event it stores. */
export function toEvent(row: {
  id: string;
  type: string;
  workspace_id: string;
  occurred_at: Date;
  data: Record<string, unknown>;
}): LifecycleEvent {
  return LifecycleEvent.parse({
    id: row.id,
    type: row.type,
    workspace_id: row.workspace_id,
    occurred_at: row.occurred_at.toISOString(),
    data: row.data,
  });
}
