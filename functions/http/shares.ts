import { secretKey } from '#lib/auth/secret-key.ts';
import { config } from '#lib/config.ts';
import { httpHandler } from '#lib/http/handler.ts';
import { shares } from '#lib/http/routes/shares.ts';
import {
  createShare,
  listShareAccesses,
  listShares,
  requireShare,
  revokeShare,
  type ShareSettings,
  shareStats,
  toShareOut,
  updateShare,
} from '#lib/services/shares.ts';

const settings = async (): Promise<ShareSettings> => ({
  frontendUrl: config().frontendUrl,
  secretKey: await secretKey(),
});

export const create = httpHandler(shares.create, async ({ db, user, body }) =>
  createShare(db, user, body, await settings()),
);

export const list = httpHandler(shares.list, async ({ db, user, query }) =>
  listShares(db, user, query, await settings()),
);

export const stats = httpHandler(shares.stats, async ({ db, user }) => shareStats(db, user));

export const read = httpHandler(shares.read, async ({ db, user, params }) =>
  toShareOut(await requireShare(db, user, params.share_id), await settings()),
);

export const update = httpHandler(shares.update, async ({ db, user, params, body }) =>
  toShareOut(await updateShare(db, user, params.share_id, body), await settings()),
);

export const revoke = httpHandler(shares.revoke, async ({ db, user, params }) => {
  await revokeShare(db, user, params.share_id);
  return undefined;
});

export const accesses = httpHandler(shares.accesses, async ({ db, user, params, query }) =>
  listShareAccesses(db, user, params.share_id, query),
);
