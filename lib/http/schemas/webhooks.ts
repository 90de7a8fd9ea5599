import * as z from 'zod';
import { EventTypeSchema } from '#lib/events/types.ts';
import { Id, listOf, Timestamp } from './common.ts';

const Url = z
  .url({ protocol: /^https?$/ })
  .max(2048)
  .meta({ description: 'http(s) URL; private, loopback and metadata addresses are refused' });
const EventTypes = z
  .array(EventTypeSchema)
  .min(1)
  .max(20)
  .transform((types) => [...new Set(types)])
  .meta({ description: 'The event types sent to the hook' });

export const WebhookCreate = z
  .object({ url: Url, event_types: EventTypes, enabled: z.boolean().default(true) })
  .meta({ id: 'WebhookCreate' });
export type WebhookCreate = z.output<typeof WebhookCreate>;

export const WebhookUpdate = z
  .object({
    url: Url.optional(),
    event_types: EventTypes.optional(),
    enabled: z
      .boolean()
      .optional()
      .meta({ description: 'true re-enables a disabled hook and clears its failures' }),
  })
  .meta({ id: 'WebhookUpdate' });
export type WebhookUpdate = z.output<typeof WebhookUpdate>;

export const WebhookPublic = z
  .object({
    id: Id,
    workspace_id: Id,
    url: z.string(),
    event_types: z.array(EventTypeSchema),
    enabled: z.boolean(),
    disabled_reason: z.string().nullable(),
    consecutive_failures: z.number().int(),
    created_at: Timestamp,
    updated_at: Timestamp,
  })
  .meta({ id: 'WebhookPublic' });

export const WebhookCreated = WebhookPublic.extend({
  secret: z.string().meta({ description: 'The signing secret: shown this once, keep it' }),
}).meta({ id: 'WebhookCreated' });

export const WebhooksPublic = listOf(WebhookPublic).meta({ id: 'WebhooksPublic' });

export const WebhookDeliveryPublic = z
  .object({
    id: Id,
    event_id: Id,
    event_type: z.string(),
    attempt: z.number().int(),
    status_code: z.number().int().nullable(),
    error: z.string().nullable(),
    duration_ms: z.number().int(),
    delivered_at: Timestamp,
  })
  .meta({ id: 'WebhookDeliveryPublic' });
export const WebhookDeliveriesPublic = listOf(WebhookDeliveryPublic).meta({ id: 'WebhookDeliveriesPublic' });

export const WebhookParams = z.object({ workspace_id: Id, webhook_id: Id });
