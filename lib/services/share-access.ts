import { sql } from 'kysely';
import { hashShareToken } from '#lib/auth/share-tokens.ts';
import type { Db } from '#lib/db/database.ts';
import type { ShareLink, ShareOutcome, ShareResourceType, User } from '#lib/db/schema.ts';
import { ForbiddenError, GoneError, NotFoundError, UnauthorizedError } from '#lib/errors.ts';
import { newId } from '#lib/ids.ts';
import { SHAREABLE_NAMES, SHAREABLE_RESOLVERS } from './share-resources.ts';
import { shareStatus } from './shares.ts';

/** A link that let its holder through, with whom to read its workspace as. */
export type OpenedShare = { link: ShareLink; reader: Pick<User, 'id'> };

const NOT_FOUND = 'Share link not found';

async function logAccess(
  db: Db,
  link: ShareLink,
  user: Pick<User, 'id'> | undefined,
  route: string,
  outcome: ShareOutcome,
): Promise<void> {
  await db
    .insertInto('share_link_accesses')
    .values({ id: newId(), link_id: link.id, user_id: user?.id ?? null, route, outcome })
    .execute();
}

/** The refusal for a link that is not active, logged first. */
async function refuse(
  db: Db,
  link: ShareLink,
  user: Pick<User, 'id'> | undefined,
  route: string,
): Promise<never> {
  const status = shareStatus(link);
  if (status === 'revoked') {
    await logAccess(db, link, user, route, 'revoked');
    throw new NotFoundError(NOT_FOUND);
  }
  if (status === 'expired') {
    await logAccess(db, link, user, route, 'expired');
    throw new GoneError('This link has expired');
  }
  await logAccess(db, link, user, route, 'exhausted');
  throw new GoneError('This link has been used as many times as it may be');
}

/**
 * Lets a link's holder through, or says why not: unknown or revoked → 404, expired or used up
 * → 410, a link that requires login and an anonymous caller → 401, and `check` may refuse
 * too (403). A use is counted in the same statement that checks the limit, so concurrent
 * holders never pass `max_uses` together. Every access of a known link is logged (`route` is
 * the method and path, token left out), whatever the outcome.
 */
async function passGate(
  db: Db,
  token: string,
  user: Pick<User, 'id'> | undefined,
  route: string,
  check?: (link: ShareLink) => { outcome: ShareOutcome; error: Error } | undefined,
): Promise<ShareLink> {
  const link = await db
    .selectFrom('share_links')
    .selectAll()
    .where('token_hash', '=', hashShareToken(token))
    .executeTakeFirst();
  if (!link) throw new NotFoundError(NOT_FOUND);
  // The reference system's order: gone (revoked, expired, used up) before asking for a login.
  if (shareStatus(link) !== 'active') return refuse(db, link, user, route);
  if (link.requires_login && !user) {
    await logAccess(db, link, user, route, 'login_required');
    throw new UnauthorizedError('This link requires signing in');
  }
  const refusal = check?.(link);
  if (refusal) {
    await logAccess(db, link, user, route, refusal.outcome);
    throw refusal.error;
  }
  const counted = await db
    .updateTable('share_links')
    .set((eb) => ({ use_count: eb('use_count', '+', 1) }))
    .where('id', '=', link.id)
    .where('revoked_at', 'is', null)
    .where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', sql<Date>`now()`)]))
    .where((eb) => eb.or([eb('max_uses', 'is', null), eb('use_count', '<', eb.ref('max_uses'))]))
    .returningAll()
    .executeTakeFirst();
  if (!counted) {
    // Why not, as the row says now (a concurrent revoke or the last use may have just landed).
    const now = await db.selectFrom('share_links').selectAll().where('id', '=', link.id).executeTakeFirst();
    return refuse(db, now ?? { ...link, revoked_at: new Date() }, user, route);
  }
  await logAccess(db, counted, user, route, 'allowed');
  return counted;
}

/** The workspace's owner, whose reads a link's views make (narrowed to what the link covers). */
async function readerOf(db: Db, link: ShareLink): Promise<Pick<User, 'id'>> {
  const workspace = await db
    .selectFrom('workspaces')
    .select('owner_id')
    .where('id', '=', link.workspace_id)
    .where('deleted_at', 'is', null)
    .executeTakeFirst();
  if (!workspace) throw new NotFoundError(NOT_FOUND);
  return { id: workspace.owner_id };
}

/**
 * Opens a share link for a read under it: counts one use and logs the access (see the rules
 * on {@link passGate}). A link whose resource no longer exists is a 404.
 */
export async function openShare(
  db: Db,
  token: string,
  user: Pick<User, 'id'> | undefined,
  route: string,
): Promise<OpenedShare> {
  const link = await passGate(db, token, user, route);
  const found = await SHAREABLE_RESOLVERS[link.resource_type].locate(db, link.resource_id);
  if (!found || found.workspace_id !== link.workspace_id)
    throw new NotFoundError(`${SHAREABLE_NAMES[link.resource_type]} not found`);
  return { link, reader: await readerOf(db, link) };
}

/** What an import through a share link copies. */
export type SharedForImport = {
  resource_type: ShareResourceType;
  resource_id: string;
  workspace_id: string;
  /** The link's id: what an import records instead of its token. */
  link_id: string;
};

/**
 * Checks a share link for an import into a workspace of the caller's (the bundles module does
 * the copy): the same rules as a read, one use counted and logged, and the link must carry
 * `import` permission (403 "This link is read-only" otherwise, no use counted).
 *
 * @example const { resource_type, resource_id } = await resolveShareForImport(db, token, user);
 */
export async function resolveShareForImport(
  db: Db,
  token: string,
  user: Pick<User, 'id'> | undefined,
  route = 'POST /workspaces/{workspace_id}/imports',
): Promise<SharedForImport> {
  const link = await passGate(db, token, user, route, (l) =>
    l.permission_level === 'import'
      ? undefined
      : { outcome: 'read_only', error: new ForbiddenError('This link is read-only') },
  );
  const found = await SHAREABLE_RESOLVERS[link.resource_type].locate(db, link.resource_id);
  if (!found || found.workspace_id !== link.workspace_id)
    throw new NotFoundError(`${SHAREABLE_NAMES[link.resource_type]} not found`);
  return {
    resource_type: link.resource_type,
    resource_id: link.resource_id,
    workspace_id: link.workspace_id,
    link_id: link.id,
  };
}
