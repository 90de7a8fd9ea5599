import { route } from '../route.ts';
import { Paging } from '../schemas/common.ts';
import {
  WebhookCreate,
  WebhookCreated,
  WebhookDeliveriesPublic,
  WebhookParams,
  WebhookPublic,
  WebhooksPublic,
  WebhookUpdate,
} from '../schemas/webhooks.ts';
import { WorkspaceIdParam } from '../schemas/workspaces.ts';

const WEBHOOKS = '/api/v1/workspaces/{workspace_id}/webhooks';
const ONE = `${WEBHOOKS}/{webhook_id}`;
const tags = ['webhooks'];

/** Webhooks: a workspace's lifecycle events POSTed, signed, to URLs of its owner's. */
export const webhooks = {
  create: route({
    handler: 'webhooks.create',
    method: 'POST',
    path: WEBHOOKS,
    auth: 'user',
    summary: 'Register a webhook; its signing secret is in this response only',
    tags,
    params: WorkspaceIdParam,
    body: WebhookCreate,
    response: { status: 201, schema: WebhookCreated },
    errors: [404],
  }),
  list: route({
    handler: 'webhooks.list',
    method: 'GET',
    path: WEBHOOKS,
    auth: 'user',
    summary: 'List the workspace’s webhooks',
    tags,
    params: WorkspaceIdParam,
    query: Paging,
    response: { status: 200, schema: WebhooksPublic },
    errors: [404],
  }),
  read: route({
    handler: 'webhooks.read',
    method: 'GET',
    path: ONE,
    auth: 'user',
    summary: 'Read a webhook (enabled, or why it was disabled)',
    tags,
    params: WebhookParams,
    response: { status: 200, schema: WebhookPublic },
    errors: [404],
  }),
  update: route({
    handler: 'webhooks.update',
    method: 'PATCH',
    path: ONE,
    auth: 'user',
    summary: 'Change a webhook’s URL or event types, or enable it again',
    tags,
    params: WebhookParams,
    body: WebhookUpdate,
    response: { status: 200, schema: WebhookPublic },
    errors: [404],
  }),
  delete: route({
    handler: 'webhooks.delete',
    method: 'DELETE',
    path: ONE,
    auth: 'user',
    summary: 'Delete a webhook and its delivery log',
    tags,
    params: WebhookParams,
    response: { status: 204 },
    errors: [404],
  }),
  deliveries: route({
    handler: 'webhooks.deliveries',
    method: 'GET',
    path: `${ONE}/deliveries`,
    auth: 'user',
    summary: 'The webhook’s delivery attempts: event, attempt, status code or error',
    tags,
    params: WebhookParams,
    query: Paging,
    response: { status: 200, schema: WebhookDeliveriesPublic },
    errors: [404],
  }),
};
