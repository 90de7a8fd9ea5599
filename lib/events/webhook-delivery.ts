import { createHmac } from 'node:crypto';
import type { Logger } from '@aws-lambda-powertools/logger';
import { sql } from 'kysely';
import { fetch } from 'undici';
import type { Db } from '#lib/db/database.ts';
import { newId } from '#lib/ids.ts';
import { IngestError } from '#lib/ingest/errors.ts';
import { createGuardedAgent } from '#lib/ingest/guarded-agent.ts';
import { checkUrl } from '#lib/ingest/ssrf.ts';
import { recordMetric } from '#lib/observability/metrics.ts';
import type { QueueSender } from '#lib/ports/queue/queue.ts';
import type { DeliverWebhook } from '#lib/schedule/messages.ts';
import { toEvent } from './outbox.ts';

/** The signature header: `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`. */
export const SIGNATURE_HEADER = 'docsift-signature';
/** Receivers should refuse a signature whose timestamp is further than this from their clock. */
export const REPLAY_WINDOW_SECONDS = 300;
const TIMEOUT_MS = 10_000;
/** A response body is not kept; errors are cut to this length in the log. */
const ERROR_CHARS = 500;

export type DeliveryDeps = {
  db: Db;
  queue: QueueSender;
  log: Logger;
  settings: {
    taskQueue: string;
    scraperAllowPrivateHosts: boolean;
    webhooks: { maxAttempts: number; retryBaseSeconds: number; disableAfterFailures: number };
  };
};

/** The `docsift-signature` value for a body sent at `timestamp` (unix seconds). */
export function signatureHeader(secret: string, timestamp: number, body: string): string {
  const v1 = createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex');
  return `t=${timestamp},v1=${v1}`;
}

/**
 * One try at delivering an event to a hook: POSTs the event signed with the hook's secret,
 * logs the attempt, and on failure sends the message again later (exponential backoff) until
 * `maxAttempts`; `disableAfterFailures` failures in a row disable the hook with the reason.
 * Idempotent: an attempt already logged is not made again.
 */
export async function deliverWebhook(deps: DeliveryDeps, message: DeliverWebhook): Promise<void> {
  const { db, settings } = deps;
  const hook = await db
    .selectFrom('webhooks')
    .selectAll()
    .where('id', '=', message.webhook_id)
    .executeTakeFirst();
  if (!hook?.enabled) return;
  const row = await db
    .selectFrom('event_outbox')
    .selectAll()
    .where('id', '=', message.event_id)
    .executeTakeFirst();
  if (!row) return;
  const done = await db
    .selectFrom('webhook_deliveries')
    .select('id')
    .where('webhook_id', '=', hook.id)
    .where('event_id', '=', row.id)
    .where('attempt', '=', message.attempt)
    .executeTakeFirst();
  if (done) return;

  const body = JSON.stringify(toEvent(row));
  const started = Date.now();
  const outcome = await post(hook.url, hook.secret, body, settings.scraperAllowPrivateHosts);
  const ok = outcome.status !== undefined && outcome.status >= 200 && outcome.status < 300;
  recordMetric('WebhookDeliveries', { result: ok ? 'delivered' : 'failed' });
  recordMetric('WebhookLatency', {}, Date.now() - started);
  const inserted = await db
    .insertInto('webhook_deliveries')
    .values({
      id: newId(),
      webhook_id: hook.id,
      event_id: row.id,
      event_type: row.type,
      attempt: message.attempt,
      status_code: outcome.status ?? null,
      error: ok ? null : (outcome.error ?? `HTTP ${outcome.status}`).slice(0, ERROR_CHARS),
      duration_ms: Date.now() - started,
    })
    .onConflict((oc) => oc.constraint('webhook_deliveries_attempt').doNothing())
    .returning('id')
    .executeTakeFirst();
  if (!inserted) return; // a concurrent copy of this message logged it
  if (ok) {
    await db.updateTable('webhooks').set({ consecutive_failures: 0 }).where('id', '=', hook.id).execute();
    return;
  }
  const failed = await db
    .updateTable('webhooks')
    .set((eb) => ({ consecutive_failures: eb('consecutive_failures', '+', 1) }))
    .where('id', '=', hook.id)
    .returning(['consecutive_failures'])
    .executeTakeFirstOrThrow();
  if (failed.consecutive_failures >= settings.webhooks.disableAfterFailures) {
    const reason = `Disabled after ${failed.consecutive_failures} failed deliveries in a row; last: ${
      outcome.error ?? `HTTP ${outcome.status}`
    }`.slice(0, ERROR_CHARS);
    await db
      .updateTable('webhooks')
      .set({ enabled: false, disabled_reason: reason, updated_at: sql<Date>`now()` })
      .where('id', '=', hook.id)
      .where('enabled', '=', true)
      .execute();
    deps.log.warn('Webhook disabled after repeated failures', { webhook_id: hook.id });
    return;
  }
  if (message.attempt >= settings.webhooks.maxAttempts) return;
  const next: DeliverWebhook = { ...message, attempt: message.attempt + 1 };
  await deps.queue.send(settings.taskQueue, [next], {
    delaySeconds: settings.webhooks.retryBaseSeconds * 2 ** (message.attempt - 1),
  });
}

/** POSTs a signed body; never throws: a refusal, timeout or network error is the outcome's error. */
async function post(
  url: string,
  secret: string,
  body: string,
  allowPrivateHosts: boolean,
): Promise<{ status?: number; error?: string }> {
  const guard = { allowPrivateHosts };
  const checked = checkUrl(new URL(url), guard);
  if (!checked.ok) return { error: checked.reason };
  const agent = createGuardedAgent(guard);
  try {
    const timestamp = Math.floor(Date.now() / 1000);
    const response = await fetch(url, {
      method: 'POST',
      // Redirects are not followed: a hook's target is the URL it was registered with.
      redirect: 'manual',
      dispatcher: agent,
      signal: AbortSignal.timeout(TIMEOUT_MS),
      headers: {
        'content-type': 'application/json',
        'user-agent': 'docsift-webhooks/1',
        [SIGNATURE_HEADER]: signatureHeader(secret, timestamp, body),
      },
      body,
    });
    await response.body?.cancel();
    return { status: response.status };
  } catch (error) {
    const cause = (error as Error).cause;
    if (cause instanceof IngestError) return { error: cause.reason };
    if ((error as Error).name === 'TimeoutError') return { error: `No answer within ${TIMEOUT_MS / 1000} s` };
    return { error: (cause as Error | undefined)?.message ?? (error as Error).message };
  } finally {
    await agent.destroy();
  }
}
