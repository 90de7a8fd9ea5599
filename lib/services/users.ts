import { type CompiledQuery, sql } from 'kysely';
import { passwordProblem } from '#lib/auth/password-policy.ts';
import { burnPasswordCheck, hashPassword, verifyPassword } from '#lib/auth/passwords.ts';
import type { Db } from '#lib/db/database.ts';
import { isUniqueViolation } from '#lib/db/errors.ts';
import { keysetPage } from '#lib/db/paging.ts';
import type { User } from '#lib/db/schema.ts';
import { ConflictError, ForbiddenError, NotFoundError, RefusedError, ValidationError } from '#lib/errors.ts';
import type { Paging } from '#lib/http/schemas/common.ts';
import { newId } from '#lib/ids.ts';
import { workspaceFolder } from '#lib/ingest/messages.ts';
import {
  type DeleteDeps,
  defaultDeleteDeps,
  fitsInline,
  markWorkspacesDeleted,
  sendDeletes,
} from './deletes.ts';
import { purgeFolders } from './purge.ts';

/** A user as the API shows it: never the password hash. */
export type UserOut = {
  id: string;
  email: string;
  full_name: string | null;
  is_active: boolean;
  is_superuser: boolean;
  created_at: string;
};

export function toUserOut(u: User): UserOut {
  return {
    id: u.id,
    email: u.email,
    full_name: u.full_name,
    is_active: u.is_active,
    is_superuser: u.is_superuser,
    created_at: u.created_at.toISOString(),
  };
}

export type NewUserInput = {
  email: string;
  password: string;
  full_name?: string | null | undefined;
  is_active?: boolean;
  is_superuser?: boolean;
};

const EMAIL_TAKEN = 'A user with this email already exists';

/**
 * Refuses a password that breaks the policy (lib/auth/password-policy.ts) with a 422 naming
 * the request's field and the reason. Every path that sets a password calls it.
 */
export async function assertPasswordAllowed(password: string, email: string, field: string): Promise<void> {
  const problem = await passwordProblem(password, email);
  if (problem) throw new ValidationError([{ location: 'body', path: field, message: `Password ${problem}` }]);
}

/** Creates a user; a password that breaks the policy is a 422, an email already in use a 409. */
export async function createUser(db: Db, input: NewUserInput): Promise<User> {
  await assertPasswordAllowed(input.password, input.email, 'password');
  return insertUser(db, input);
}

async function insertUser(db: Db, input: NewUserInput): Promise<User> {
  const hashed = await hashPassword(input.password);
  try {
    return await db
      .insertInto('users')
      .values({
        id: newId(),
        email: input.email.toLowerCase(),
        hashed_password: hashed,
        full_name: input.full_name ?? null,
        is_active: input.is_active ?? true,
        is_superuser: input.is_superuser ?? false,
      })
      .returningAll()
      .executeTakeFirstOrThrow();
  } catch (error) {
    if (isUniqueViolation(error, 'users_email_key')) throw new ConflictError(EMAIL_TAKEN);
    throw error;
  }
}

/**
 * The lookup of every authenticated request (lib/http/middleware/authenticate.ts), built and
 * compiled by kysely once: each call only swaps its one parameter.
 */
let findById: CompiledQuery<User> | undefined;

export async function findUserById(db: Db, id: string): Promise<User | undefined> {
  findById ??= db
    .selectFrom('users')
    .selectAll()
    .where('id', '=', '')
    .where('deleted_at', 'is', null)
    .compile();
  const { rows } = await db.executeQuery<User>({ ...findById, parameters: [id] });
  return rows[0];
}

export function findUserByEmail(db: Db, email: string): Promise<User | undefined> {
  return db
    .selectFrom('users')
    .selectAll()
    .where('email', '=', email.toLowerCase())
    .where('deleted_at', 'is', null)
    .executeTakeFirst();
}

export async function getUser(db: Db, id: string): Promise<User> {
  const user = await findUserById(db, id);
  if (!user) throw new NotFoundError('User not found');
  return user;
}

export type AuthResult = { ok: true; user: User } | { ok: false; error: 'bad_credentials' | 'inactive' };

/** Checks an email and password. Takes the same time whether or not the email exists. */
export async function authenticate(db: Db, email: string, password: string): Promise<AuthResult> {
  const user = await findUserByEmail(db, email);
  if (!user) {
    await burnPasswordCheck(password);
    return { ok: false, error: 'bad_credentials' };
  }
  if (!(await verifyPassword(password, user.hashed_password))) return { ok: false, error: 'bad_credentials' };
  if (!user.is_active) return { ok: false, error: 'inactive' };
  return { ok: true, user };
}

export type UserChanges = {
  email?: string | undefined;
  password?: string | undefined;
  full_name?: string | null | undefined;
  is_active?: boolean | undefined;
  is_superuser?: boolean | undefined;
};

/**
 * Updates a user's fields; an email that another user has is a 409, as is demoting or
 * deactivating the last active superuser. A new password must pass the policy (422 on
 * `passwordField`) and revokes the user's tokens.
 */
export async function updateUser(
  db: Db,
  id: string,
  changes: UserChanges,
  passwordField = 'password',
): Promise<User> {
  const { password, ...fields } = changes;
  if (password !== undefined) {
    const email = changes.email ?? (await getUser(db, id)).email;
    await assertPasswordAllowed(password, email, passwordField);
  }
  const values: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(fields)) if (value !== undefined) values[key] = value;
  if (typeof values.email === 'string') values.email = values.email.toLowerCase();
  if (password !== undefined) values.hashed_password = await hashPassword(password);
  if (Object.keys(values).length === 0) return getUser(db, id);
  const update = async (q: Db) => {
    const user = await q
      .updateTable('users')
      .set(values)
      // A new password revokes every token issued with the old one.
      .$if(password !== undefined, (u) => u.set((eb) => ({ token_version: eb('token_version', '+', 1) })))
      .where('id', '=', id)
      .returningAll()
      .executeTakeFirst();
    if (!user) throw new NotFoundError('User not found');
    return user;
  };
  try {
    const demotes = changes.is_superuser === false || changes.is_active === false;
    return demotes ? await keepingASuperuser(db, id, update) : await update(db);
  } catch (error) {
    if (isUniqueViolation(error, 'users_email_key')) throw new ConflictError(EMAIL_TAKEN);
    throw error;
  }
}

/** Changes a user's own password after checking the current one. */
export async function changePassword(db: Db, user: User, current: string, next: string): Promise<void> {
  if (!(await verifyPassword(current, user.hashed_password))) throw new RefusedError('Incorrect password');
  if (current === next) throw new RefusedError('New password cannot be the same as the current one');
  await updateUser(db, user.id, { password: next }, 'new_password');
}

const LAST_SUPERUSER = 'The last active superuser cannot be demoted, deactivated or deleted';

/**
 * Runs a change that may take a user out of the active superusers (demotion, deactivation,
 * deletion), refusing it with a 409 when that user is the last one. Every active superuser's
 * row is locked first, in id order, so two superusers demoting each other at once cannot both
 * succeed: the second waits, then sees the first's change.
 */
async function keepingASuperuser<T>(db: Db, id: string, change: (trx: Db) => Promise<T>): Promise<T> {
  return db.transaction().execute(async (trx) => {
    const superusers = await trx
      .selectFrom('users')
      .select('id')
      .where('is_superuser', '=', true)
      .where('is_active', '=', true)
      .orderBy('id')
      .forUpdate()
      .execute();
    if (superusers.length === 1 && superusers[0]!.id === id) throw new ConflictError(LAST_SUPERUSER);
    return change(trx);
  });
}

/**
 * Deletes a user and, by cascade, their workspaces; their workspaces' stored files are purged
 * after the commit. The user's row is locked first, so no workspace is created in between and
 * missed. A superuser cannot delete itself, and the last active superuser cannot be deleted (409).
 *
 * A user whose workspaces are too large to delete within a request ({@link fitsInline}) is
 * deleted for everyone at once all the same: the row is marked (`deleted_at`; inactive, its
 * tokens and email void, so the address is free again) and their workspaces too; the ingest
 * worker deletes the workspaces in the background and the user's row with the last of them.
 */
export async function deleteUser(
  db: Db,
  actor: User,
  id: string,
  deps: DeleteDeps = defaultDeleteDeps(),
): Promise<void> {
  if (actor.id === id && actor.is_superuser) {
    throw new ForbiddenError('Super users are not allowed to delete themselves');
  }
  const { workspaceIds, background } = await keepingASuperuser(db, id, async (trx) => {
    const user = await trx
      .selectFrom('users')
      .select('id')
      .where('id', '=', id)
      .where('deleted_at', 'is', null)
      .forUpdate()
      .executeTakeFirst();
    if (!user) throw new NotFoundError('User not found');
    const owned = (await trx.selectFrom('workspaces').select('id').where('owner_id', '=', id).execute()).map(
      (w) => w.id,
    );
    if (await fitsInline(trx, { workspaceIds: owned }, deps.inlineMaxRecords)) {
      await trx.deleteFrom('users').where('id', '=', id).execute();
      return { workspaceIds: owned, background: false };
    }
    await markWorkspacesDeleted(trx, owned);
    await trx
      .updateTable('users')
      .set((eb) => ({
        deleted_at: sql<Date>`now()`,
        is_active: false,
        email: `${id}@deleted.invalid`,
        token_version: eb('token_version', '+', 1),
      }))
      .where('id', '=', id)
      .execute();
    return { workspaceIds: owned, background: true };
  });
  if (background)
    await sendDeletes(
      deps,
      workspaceIds.map((workspaceId) => ({ kind: 'delete_workspace', workspace_id: workspaceId })),
    );
  else await purgeFolders(deps.adapters, deps.ingestQueue)(workspaceIds.map(workspaceFolder));
}

/** A page of users in creation order, with the total. */
export async function listUsers(
  db: Db,
  paging: Paging,
): Promise<{ data: User[]; count: number; next_cursor: string | null }> {
  return keysetPage<User>(db.selectFrom('users').where('deleted_at', 'is', null), paging);
}

/**
 * Creates the first superuser when no user has its email. Safe to run at every start and from
 * several processes at once (the unique email decides).
 */
export async function ensureFirstSuperuser(
  db: Db,
  email: string,
  password: string,
): Promise<'created' | 'exists'> {
  if (await findUserByEmail(db, email)) return 'exists';
  try {
    // The operator's own choice (the CDK app generates a random one): not held to the policy,
    // which would otherwise stop a start on a password that was accepted before.
    await insertUser(db, { email, password, is_superuser: true, full_name: null });
    return 'created';
  } catch (error) {
    if (error instanceof ConflictError) return 'exists';
    throw error;
  }
}
