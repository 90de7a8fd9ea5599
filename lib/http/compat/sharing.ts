import { eachItem, type Json, mapBody, type RawInput } from '../compat.ts';
import { ConflictError, ValidationError } from '../errors.ts';

/*
 * Share links as the reference's client sends and reads them (`/shareables/shareables/…`): its
 * names for two resource types and for the permission levels, `expiration_date` for
 * `expires_at`, and `{resource_type, resource_id, permission_level, data}` for what a token
 * gives access to. Translation only: docsift's share routes do the work.
 */

/** Where the reference serves share links (its router's prefix, twice). */
export const REFERENCE_SHAREABLES = '/api/v1/shareables/shareables';

/** docsift's names of shareable types where the reference's differ. */
const REFERENCE_TYPES: Record<string, string> = { datasource: 'data_source', scheme: 'schema' };
const DOCSIFT_TYPES = Object.fromEntries(
  Object.entries(REFERENCE_TYPES).map(([ours, theirs]) => [theirs, ours]),
);

const docsiftType = (type: unknown) => (typeof type === 'string' ? (DOCSIFT_TYPES[type] ?? type) : type);
const referenceType = (type: unknown) => (typeof type === 'string' ? (REFERENCE_TYPES[type] ?? type) : type);

/**
 * The reference's levels as docsift's: `read_only` is the same, `full_access` is docsift's
 * `import` (read, and copy into a workspace of one's own); `edit` docsift never grants.
 */
function permissionIn(level: unknown): unknown {
  if (level === 'full_access') return 'import';
  if (level === 'edit')
    throw new ValidationError([
      {
        location: 'body',
        path: 'permission_level',
        message:
          'docsift’s links never let holders edit: read_only, or full_access (read, and import a copy)',
      },
    ]);
  return level;
}

const permissionOut = (level: unknown) => (level === 'import' ? 'full_access' : level);

/**
 * A link's create or update body as docsift's. `null` means "not set" for the reference's
 * client; `is_public` (never used there) may only be false: docsift has no public listing of
 * links, and `requires_login: false` already lets anyone with the link in.
 */
export const referenceLinkIn = mapBody(
  ({ resource_type, permission_level, is_public, requires_login, expiration_date, ...rest }) => {
    if (is_public === true)
      throw new ValidationError([
        {
          location: 'body',
          path: 'is_public',
          message: 'docsift lists no links publicly: requires_login false lets anyone with the link in',
        },
      ]);
    return {
      ...rest,
      ...(resource_type !== undefined && { resource_type: docsiftType(resource_type) }),
      ...(permission_level != null && { permission_level: permissionIn(permission_level) }),
      ...(requires_login != null && { requires_login }),
      ...(expiration_date !== undefined && { expires_at: expiration_date }),
    };
  },
);

/** The links list's `resource_type` filter in the reference's names. */
export function referenceLinksQuery(raw: RawInput): RawInput {
  const { resource_type, ...query } = raw.query;
  if (resource_type === undefined) return raw;
  return { ...raw, query: { ...query, resource_type: docsiftType(resource_type) as string } };
}

/** A link (or each of a list) as the reference reads it: its names, and `expiration_date`. */
export const referenceLink = eachItem((link) => ({
  ...link,
  resource_type: referenceType(link.resource_type),
  permission_level: permissionOut(link.permission_level),
  expiration_date: link.expires_at,
  is_public: false,
}));

/** The links' statistics with the reference's type names. */
export function referenceLinkStats(body: unknown): unknown {
  const stats = body as Json & {
    links_by_resource_type: Record<string, number>;
    most_used_links: Json[];
    most_shared_resources: Json[];
  };
  const renamed = (items: Json[]) =>
    items.map((i) => ({ ...i, resource_type: referenceType(i.resource_type) }));
  return {
    ...stats,
    links_by_resource_type: Object.fromEntries(
      Object.entries(stats.links_by_resource_type).map(([type, n]) => [referenceType(type), n]),
    ),
    most_used_links: renamed(stats.most_used_links),
    most_shared_resources: renamed(stats.most_shared_resources),
  };
}

type Described = Json & { resource_type: string; permission_level: string; resource: Json };

/**
 * What a token gives access to, as the reference answers it: the link's terms and the
 * resource's summary as `data` (a dataset's also as `metadata`, which the reference gave instead).
 */
export function referenceAccess(body: unknown): unknown {
  const { resource, ...terms } = body as Described;
  return {
    ...terms,
    resource_type: referenceType(terms.resource_type),
    permission_level: permissionOut(terms.permission_level),
    data: resource,
    ...(terms.resource_type === 'dataset' && {
      metadata: {
        name: resource.name,
        description: resource.description,
        original_dataset_id: resource.id,
        original_workspace_id: resource.workspace_id,
      },
    }),
  };
}

type Entity = { id: string; name: string; description: string | null };

/**
 * A shared dataset summed up as the reference's package summary: its name, member count,
 * schemes and jobs (the reference's files manifest has no counterpart: docsift shares rows).
 * A link to anything else: 409.
 */
export function referencePackageSummary(body: unknown): unknown {
  const described = body as Described;
  if (described.resource_type !== 'dataset')
    throw new ConflictError(
      `This link shares a ${referenceType(described.resource_type)}, not a dataset: it has no package summary`,
    );
  const dataset = described.resource as Entity & { member_count: number; schemes: Entity[]; jobs: Entity[] };
  const entity = (e: Entity) => ({ entity_uuid: e.id, name: e.name, description: e.description });
  return {
    package_metadata: {
      source: 'docsift',
      resource_type: 'dataset',
      permission_level: permissionOut(described.permission_level),
      expires_at: described.expires_at,
    },
    dataset_details: entity(dataset),
    record_count: dataset.member_count,
    included_schemes: dataset.schemes.map(entity),
    included_jobs: dataset.jobs.map(entity),
  };
}
