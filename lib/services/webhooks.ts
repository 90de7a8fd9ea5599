import { randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import type { Db } from '#lib/db/database.ts';
import { keysetPage } from '#lib/db/paging.ts';
import type { User, Webhook, WebhookDelivery } from '#lib/db/schema.ts';
import { NotFoundError, ValidationError } from '#lib/errors.ts';
import type { EventType } from '#lib/events/types.ts';
import type { Paging } from '#lib/http/schemas/common.ts';
import type { WebhookCreate, WebhookUpdate } from '#lib/http/schemas/webhooks.ts';
import { newId } from '#lib/ids.ts';
import { checkUrl, type GuardOptions } from '#lib/ingest/ssrf.ts';
import { requireWorkspace } from './access.ts';

/** Hooks per workspace: each event fans out to all of them. */
const MAX_HOOKS_PER_WORKSPACE = 20;

export type WebhookOut = {
  id: string;
  workspace_id: string;
  url: string;
  event_types: EventType[];
  enabled: boolean;
  disabled_reason: string | null;
  consecutive_failures: number;
  created_at: string;
  updated_at: string;
};

/** A hook as clients see it: never its secret (shown once, at creation). */
function toWebhookOut(h: Webhook): WebhookOut {
  return {
    id: h.id,
    workspace_id: h.workspace_id,
    url: h.url,
    // Written through the API's enum only.
    event_types: h.event_types as EventType[],
    enabled: h.enabled,
    disabled_reason: h.disabled_reason,
    consecutive_failures: h.consecutive_failures,
    created_at: h.created_at.toISOString(),
    updated_at: h.updated_at.toISOString(),
  };
}

/** The scraper's SSRF rules, before any lookup (the delivery's agent checks resolved addresses too). */
function requireSafeUrl(url: string, guard: GuardOptions) {
  const checked = checkUrl(new URL(url), guard);
  if (!checked.ok) throw new ValidationError([{ location: 'body', path: 'url', message: checked.reason }]);
}

/** Creates a hook with a new signing secret, returned this once. */
export async function createWebhook(
  db: Db,
  user: Pick<User, 'id'>,
  workspaceId: string,
  body: WebhookCreate,
  guard: GuardOptions,
): Promise<WebhookOut & { secret: string }> {
  await requireWorkspace(db, user, workspaceId);
  requireSafeUrl(body.url, guard);
  const existing = await db
    .selectFrom('webhooks')
    .select(sql<number>`count(*)::int`.as('n'))
    .where('workspace_id', '=', workspaceId)
    .executeTakeFirstOrThrow();
  if (existing.n >= MAX_HOOKS_PER_WORKSPACE) {
    throw new ValidationError([
      {
        location: 'body',
        path: 'url',
        message: `A workspace has at most ${MAX_HOOKS_PER_WORKSPACE} webhooks`,
      },
    ]);
  }
  const secret = `whsec_${randomBytes(32).toString('base64url')}`;
  const hook = await db
    .insertInto('webhooks')
    .values({
      id: newId(),
      workspace_id: workspaceId,
      url: body.url,
      event_types: body.event_types,
      secret,
      enabled: body.enabled,
      disabled_reason: null,
    })
    .returningAll()
    .executeTakeFirstOrThrow();
  return { ...toWebhookOut(hook), secret };
}

export async function listWebhooks(db: Db, user: Pick<User, 'id'>, workspaceId: string, paging: Paging) {
  await requireWorkspace(db, user, workspaceId);
  const page = await keysetPage<Webhook>(
    db.selectFrom('webhooks').where('workspace_id', '=', workspaceId),
    paging,
  );
  return { ...page, data: page.data.map(toWebhookOut) };
}

async function requireWebhook(db: Db, user: Pick<User, 'id'>, workspaceId: string, id: string) {
  await requireWorkspace(db, user, workspaceId);
  const hook = await db
    .selectFrom('webhooks')
    .selectAll()
    .where('id', '=', id)
    .where('workspace_id', '=', workspaceId)
    .executeTakeFirst();
  if (!hook) throw new NotFoundError('Webhook not found');
  return hook;
}

export async function readWebhook(db: Db, user: Pick<User, 'id'>, workspaceId: string, id: string) {
  return toWebhookOut(await requireWebhook(db, user, workspaceId, id));
}

/** Changes a hook; enabling one (again) clears its failures and the reason it was disabled. */
export async function updateWebhook(
  db: Db,
  user: Pick<User, 'id'>,
  workspaceId: string,
  id: string,
  body: WebhookUpdate,
  guard: GuardOptions,
) {
  await requireWebhook(db, user, workspaceId, id);
  if (body.url) requireSafeUrl(body.url, guard);
  const hook = await db
    .updateTable('webhooks')
    .set({
      ...(body.url && { url: body.url }),
      ...(body.event_types && { event_types: body.event_types }),
      ...(body.enabled === true && { enabled: true, disabled_reason: null, consecutive_failures: 0 }),
      ...(body.enabled === false && { enabled: false, disabled_reason: 'Disabled by a user' }),
      updated_at: sql<Date>`now()`,
    })
    .where('id', '=', id)
    .returningAll()
    .executeTakeFirstOrThrow();
  return toWebhookOut(hook);
}

export async function deleteWebhook(db: Db, user: Pick<User, 'id'>, workspaceId: string, id: string) {
  await requireWebhook(db, user, workspaceId, id);
  await db.deleteFrom('webhooks').where('id', '=', id).execute();
}

/** The hook's delivery attempts, oldest first (time-ordered ids). */
export async function listDeliveries(
  db: Db,
  user: Pick<User, 'id'>,
  workspaceId: string,
  id: string,
  paging: Paging,
) {
  await requireWebhook(db, user, workspaceId, id);
  const page = await keysetPage<WebhookDelivery>(
    db.selectFrom('webhook_deliveries').where('webhook_id', '=', id),
    paging,
  );
  return {
    ...page,
    data: page.data.map((d) => ({
      id: d.id,
      event_id: d.event_id,
      event_type: d.event_type,
      attempt: d.attempt,
      status_code: d.status_code,
      error: d.error,
      duration_ms: d.duration_ms,
      delivered_at: d.delivered_at.toISOString(),
    })),
  };
}
