import { config } from '#lib/config.ts';
import { httpHandler } from '#lib/http/handler.ts';
import { webhooks } from '#lib/http/routes/webhooks.ts';
import {
  createWebhook,
  deleteWebhook,
  listDeliveries,
  listWebhooks,
  readWebhook,
  updateWebhook,
} from '#lib/services/webhooks.ts';

const guard = () => ({ allowPrivateHosts: config().scraperAllowPrivateHosts });

export const create = httpHandler(webhooks.create, async ({ db, user, params, body }) =>
  createWebhook(db, user, params.workspace_id, body, guard()),
);

export const list = httpHandler(webhooks.list, async ({ db, user, params, query }) =>
  listWebhooks(db, user, params.workspace_id, query),
);

export const read = httpHandler(webhooks.read, async ({ db, user, params }) =>
  readWebhook(db, user, params.workspace_id, params.webhook_id),
);

export const update = httpHandler(webhooks.update, async ({ db, user, params, body }) =>
  updateWebhook(db, user, params.workspace_id, params.webhook_id, body, guard()),
);

const deleteHandler = httpHandler(webhooks.delete, async ({ db, user, params }) => {
  await deleteWebhook(db, user, params.workspace_id, params.webhook_id);
  return undefined;
});

export { deleteHandler as delete };

export const deliveries = httpHandler(webhooks.deliveries, async ({ db, user, params, query }) =>
  listDeliveries(db, user, params.workspace_id, params.webhook_id, query),
);
