import { type Selectable, sql } from 'kysely';
import { hashShareToken, newShareToken, openShareToken, sealShareToken } from '#lib/auth/share-tokens.ts';
import type { Db } from '#lib/db/database.ts';
import { keysetPage } from '#lib/db/paging.ts';
import type {
  ShareLink,
  ShareLinkAccessesTable,
  SharePermission,
  ShareResourceType,
  User,
} from '#lib/db/schema.ts';
import { NotFoundError, ValidationError } from '#lib/errors.ts';
import type { Paging } from '#lib/http/schemas/common.ts';
import { newId } from '#lib/ids.ts';
import { refuseDeletingDatasources } from './access.ts';
import { SHAREABLE_NAMES, SHAREABLE_RESOLVERS } from './share-resources.ts';

/** What the owner's routes need from the configuration: links' base URL and the sealing key. */
export type ShareSettings = { frontendUrl: string; secretKey: string };

export type ShareStatus = 'active' | 'expired' | 'exhausted' | 'revoked';

/** Where a link stands now: revoked wins, then expiry, then its uses. */
export function shareStatus(
  link: Pick<ShareLink, 'revoked_at' | 'expires_at' | 'max_uses' | 'use_count'>,
  now = new Date(),
): ShareStatus {
  if (link.revoked_at) return 'revoked';
  if (link.expires_at && link.expires_at <= now) return 'expired';
  if (link.max_uses !== null && link.use_count >= link.max_uses) return 'exhausted';
  return 'active';
}

/** A link as its owner sees it: with its token and URL (null if the signing key changed since). */
export function toShareOut(link: ShareLink, settings: ShareSettings) {
  const token = link.token_sealed ? openShareToken(link.token_sealed, settings.secretKey) : undefined;
  return {
    id: link.id,
    token: token ?? null,
    share_url: token ? shareUrl(settings.frontendUrl, token) : null,
    resource_type: link.resource_type,
    resource_id: link.resource_id,
    workspace_id: link.workspace_id,
    user_id: link.user_id,
    name: link.name,
    description: link.description,
    permission_level: link.permission_level,
    requires_login: link.requires_login,
    expires_at: link.expires_at?.toISOString() ?? null,
    max_uses: link.max_uses,
    use_count: link.use_count,
    revoked_at: link.revoked_at?.toISOString() ?? null,
    status: shareStatus(link),
    created_at: link.created_at.toISOString(),
    updated_at: link.updated_at.toISOString(),
  };
}

function shareUrl(frontendUrl: string, token: string): string {
  return `${frontendUrl.replace(/\/$/, '')}/share/${token}`;
}

export type ShareCreate = {
  resource_type: ShareResourceType;
  resource_id: string;
  name?: string | null | undefined;
  description?: string | null | undefined;
  permission_level: SharePermission;
  requires_login: boolean;
  expires_at?: string | null | undefined;
  max_uses?: number | null | undefined;
};

export type ShareUpdate = Partial<
  Pick<
    ShareCreate,
    'name' | 'description' | 'permission_level' | 'requires_login' | 'expires_at' | 'max_uses'
  >
>;

function checkExpiry(expiresAt: string | null | undefined, now = new Date()): void {
  if (expiresAt && new Date(expiresAt) <= now)
    throw new ValidationError([{ location: 'body', path: 'expires_at', message: 'Must be in the future' }]);
}

/**
 * Creates a share link for a resource of a workspace the caller owns (a 404 otherwise, as for
 * a resource that does not exist). The token is new randomness, stored only as its SHA-256 and
 * sealed under a key derived from the signing key.
 */
export async function createShare(
  db: Db,
  user: Pick<User, 'id'>,
  input: ShareCreate,
  settings: ShareSettings,
) {
  checkExpiry(input.expires_at);
  const found = await SHAREABLE_RESOLVERS[input.resource_type].locate(db, input.resource_id);
  const owned =
    found &&
    (await db
      .selectFrom('workspaces')
      .select('id')
      .where('id', '=', found.workspace_id)
      .where('owner_id', '=', user.id)
      .where('deleted_at', 'is', null)
      .executeTakeFirst());
  if (!found || !owned) throw new NotFoundError(`${SHAREABLE_NAMES[input.resource_type]} not found`);
  if (input.resource_type === 'datasource') await refuseDeletingDatasources(db, input.resource_id);
  const token = newShareToken();
  const link = await db
    .insertInto('share_links')
    .values({
      id: newId(),
      token_hash: hashShareToken(token),
      token_sealed: sealShareToken(token, settings.secretKey),
      user_id: user.id,
      workspace_id: found.workspace_id,
      resource_type: input.resource_type,
      resource_id: input.resource_id,
      name: input.name ?? null,
      description: input.description ?? null,
      permission_level: input.permission_level,
      requires_login: input.requires_login,
      expires_at: input.expires_at ? new Date(input.expires_at) : null,
      max_uses: input.max_uses ?? null,
    })
    .returningAll()
    .executeTakeFirstOrThrow();
  return toShareOut(link, settings);
}

export type ShareFilters = Paging & {
  resource_type?: ShareResourceType | undefined;
  resource_id?: string | undefined;
  include_revoked?: boolean | undefined;
};

/** The caller's links, oldest first; revoked ones only when asked for. */
export async function listShares(
  db: Db,
  user: Pick<User, 'id'>,
  filters: ShareFilters,
  settings: ShareSettings,
) {
  const page = await keysetPage<ShareLink>(
    db
      .selectFrom('share_links')
      .where('user_id', '=', user.id)
      .$if(!filters.include_revoked, (q) => q.where('revoked_at', 'is', null))
      .$if(filters.resource_type !== undefined, (q) => q.where('resource_type', '=', filters.resource_type!))
      .$if(filters.resource_id !== undefined, (q) => q.where('resource_id', '=', filters.resource_id!)),
    filters,
  );
  return { ...page, data: page.data.map((l) => toShareOut(l, settings)) };
}

/** A link of the caller's (revoked ones included: their access log stays readable), or 404. */
export async function requireShare(db: Db, user: Pick<User, 'id'>, id: string): Promise<ShareLink> {
  const link = await db
    .selectFrom('share_links')
    .selectAll()
    .where('id', '=', id)
    .where('user_id', '=', user.id)
    .executeTakeFirst();
  if (!link) throw new NotFoundError('Share link not found');
  return link;
}

/** Changes a live link's terms; a revoked link is gone for its holders and stays so (404). */
export async function updateShare(db: Db, user: Pick<User, 'id'>, id: string, changes: ShareUpdate) {
  checkExpiry(changes.expires_at);
  const { expires_at, ...rest } = changes;
  const values = {
    ...Object.fromEntries(Object.entries(rest).filter(([, v]) => v !== undefined)),
    ...(expires_at !== undefined && { expires_at: expires_at === null ? null : new Date(expires_at) }),
  };
  if (Object.keys(values).length === 0) {
    const link = await requireShare(db, user, id);
    if (link.revoked_at) throw new NotFoundError('Share link not found');
    return link;
  }
  const link = await db
    .updateTable('share_links')
    .set(values)
    .where('id', '=', id)
    .where('user_id', '=', user.id)
    .where('revoked_at', 'is', null)
    .returningAll()
    .executeTakeFirst();
  if (!link) throw new NotFoundError('Share link not found');
  return link;
}

/**
 * Revokes a link: its token is a 404 from now on. The row stays (marked) so that its owner can
 * still read who used it; revoking twice is a 404.
 */
export async function revokeShare(db: Db, user: Pick<User, 'id'>, id: string): Promise<void> {
  const result = await db
    .updateTable('share_links')
    .set({ revoked_at: sql`clock_timestamp()` })
    .where('id', '=', id)
    .where('user_id', '=', user.id)
    .where('revoked_at', 'is', null)
    .executeTakeFirst();
  if (result.numUpdatedRows === 0n) throw new NotFoundError('Share link not found');
}

/** A link's access log, newest first, for its owner. */
export async function listShareAccesses(db: Db, user: Pick<User, 'id'>, id: string, paging: Paging) {
  await requireShare(db, user, id);
  const filtered = db.selectFrom('share_link_accesses').where('link_id', '=', id);
  const [rows, total] = await Promise.all([
    filtered
      .selectAll()
      .$if(paging.cursor !== undefined, (q) => q.where('id', '<', paging.cursor!))
      .orderBy('id', 'desc')
      .limit(paging.limit + 1)
      .execute(),
    filtered.select(sql<number>`count(*)::int`.as('count')).executeTakeFirstOrThrow(),
  ]);
  const data = rows.slice(0, paging.limit);
  return {
    data: data.map((a: Selectable<ShareLinkAccessesTable>) => ({
      id: a.id,
      at: a.at.toISOString(),
      user_id: a.user_id,
      route: a.route,
      outcome: a.outcome,
    })),
    count: total.count,
    next_cursor: rows.length > paging.limit ? Buffer.from(data.at(-1)!.id).toString('base64url') : null,
  };
}

/**
 * The caller's links in numbers: totals by status and type, the 5 most used links and the 5
 * resources shared by the most live links.
 */
export async function shareStats(db: Db, user: Pick<User, 'id'>) {
  const mine = db.selectFrom('share_links').where('user_id', '=', user.id);
  const live = mine.where('revoked_at', 'is', null);
  const [counts, byType, mostUsed, mostShared] = await Promise.all([
    mine
      .select([
        sql<number>`count(*)::int`.as('total'),
        sql<number>`(count(*) FILTER (WHERE revoked_at IS NOT NULL))::int`.as('revoked'),
        sql<number>`(count(*) FILTER (WHERE revoked_at IS NULL AND expires_at <= now()))::int`.as('expired'),
        sql<number>`(count(*) FILTER (WHERE revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now())
          AND max_uses IS NOT NULL AND use_count >= max_uses))::int`.as('exhausted'),
      ])
      .executeTakeFirstOrThrow(),
    live
      .select(['resource_type', sql<number>`count(*)::int`.as('n')])
      .groupBy('resource_type')
      .execute(),
    mine
      .select(['id', 'name', 'resource_type', 'resource_id', 'use_count'])
      .orderBy('use_count', 'desc')
      .orderBy('id')
      .limit(5)
      .execute(),
    live
      .select([
        'resource_type',
        'resource_id',
        sql<number>`count(*)::int`.as('links'),
        sql<number>`sum(use_count)::int`.as('uses'),
      ])
      .groupBy(['resource_type', 'resource_id'])
      .orderBy('links', 'desc')
      .orderBy('uses', 'desc')
      .orderBy('resource_id')
      .limit(5)
      .execute(),
  ]);
  const active = counts.total - counts.revoked - counts.expired - counts.exhausted;
  return {
    total_links: counts.total,
    active_links: active,
    expired_links: counts.expired,
    exhausted_links: counts.exhausted,
    revoked_links: counts.revoked,
    links_by_resource_type: Object.fromEntries(byType.map((r) => [r.resource_type, r.n])),
    most_used_links: mostUsed,
    most_shared_resources: mostShared,
  };
}
