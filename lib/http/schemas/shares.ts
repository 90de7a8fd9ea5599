import * as z from 'zod';
import { Id, listOf, Paging, Timestamp } from './common.ts';

export const ShareResourceType = z.enum([
  'datasource',
  'scheme',
  'classification_job',
  'dataset',
  'workspace',
]);
const Permission = z.enum(['read_only', 'import']);
const Name = z.string().trim().min(1).max(255).nullable();
const Description = z.string().max(10_000).nullable();
const MaxUses = z.number().int().min(1).max(1_000_000_000).nullable();

export const ShareCreate = z
  .object({
    resource_type: ShareResourceType,
    resource_id: Id,
    name: Name.optional(),
    description: Description.optional(),
    permission_level: Permission.default('read_only'),
    requires_login: z.boolean().default(true),
    expires_at: Timestamp.nullable().optional().meta({ description: 'In the future; none: never expires' }),
    max_uses: MaxUses.optional().meta({ description: 'Accesses allowed in all (each request is one)' }),
  })
  .meta({ id: 'ShareCreate' });

export const ShareUpdate = z
  .object({
    name: Name.optional(),
    description: Description.optional(),
    permission_level: Permission.optional(),
    requires_login: z.boolean().optional(),
    expires_at: Timestamp.nullable().optional(),
    max_uses: MaxUses.optional(),
  })
  .meta({ id: 'ShareUpdate' });

export const SharePublic = z
  .object({
    id: Id,
    token: z.string().nullable().meta({ description: 'Null when the signing key changed since creation' }),
    share_url: z.string().nullable(),
    resource_type: ShareResourceType,
    resource_id: Id,
    workspace_id: Id,
    user_id: Id.meta({ description: 'Who made the link' }),
    name: z.string().nullable(),
    description: z.string().nullable(),
    permission_level: Permission,
    requires_login: z.boolean(),
    expires_at: Timestamp.nullable(),
    max_uses: z.number().int().nullable(),
    use_count: z.number().int(),
    revoked_at: Timestamp.nullable(),
    status: z.enum(['active', 'expired', 'exhausted', 'revoked']),
    created_at: Timestamp,
    updated_at: Timestamp,
  })
  .meta({ id: 'SharePublic' });

export const SharesPublic = listOf(SharePublic).meta({ id: 'SharesPublic' });

export const SharesQuery = Paging.extend({
  resource_type: ShareResourceType.optional(),
  resource_id: Id.optional(),
  include_revoked: z
    .enum(['true', 'false'])
    .default('false')
    .transform((v) => v === 'true'),
});

export const ShareParams = z.object({ share_id: Id });

export const ShareAccessesPublic = listOf(
  z.object({
    id: Id,
    at: Timestamp,
    user_id: Id.nullable().meta({ description: 'Null: anonymous' }),
    route: z.string().meta({ description: 'Method and path, the token replaced by {token}' }),
    outcome: z.enum(['allowed', 'revoked', 'expired', 'exhausted', 'login_required', 'read_only']),
  }),
).meta({ id: 'ShareAccessesPublic' });

export const ShareStats = z
  .object({
    total_links: z.number().int(),
    active_links: z.number().int(),
    expired_links: z.number().int(),
    exhausted_links: z.number().int(),
    revoked_links: z.number().int(),
    links_by_resource_type: z.record(z.string(), z.number().int()),
    most_used_links: z.array(
      z.object({
        id: Id,
        name: z.string().nullable(),
        resource_type: ShareResourceType,
        resource_id: Id,
        use_count: z.number().int(),
      }),
    ),
    most_shared_resources: z.array(
      z.object({
        resource_type: ShareResourceType,
        resource_id: Id,
        links: z.number().int(),
        uses: z.number().int(),
      }),
    ),
  })
  .meta({ id: 'ShareStats' });

/** A share token in a path: anything up to 128 characters (an unknown one is a 404). */
const Token = z.string().min(1).max(128);

export const SharedParams = z.object({ token: Token });
export const SharedDatasourceParams = z.object({ token: Token, datasource_id: Id });
export const SharedRecordParams = z.object({ token: Token, record_id: Id });
export const SharedSchemeParams = z.object({ token: Token, scheme_id: Id });
export const SharedJobParams = z.object({ token: Token, job_id: Id });
export const SharedResultParams = z.object({ token: Token, result_id: Id });
export const SharedDatasetParams = z.object({ token: Token, dataset_id: Id });

export const SharedResource = z
  .object({
    resource_type: ShareResourceType,
    resource_id: Id,
    name: z.string().nullable(),
    description: z.string().nullable(),
    permission_level: Permission,
    expires_at: Timestamp.nullable(),
    resource: z.record(z.string(), z.unknown()).meta({ description: 'A summary of the shared resource' }),
  })
  .meta({ id: 'SharedResource' });
