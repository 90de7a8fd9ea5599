import { config } from '#lib/config.ts';
import { ForbiddenError } from '#lib/http/errors.ts';
import { httpHandler } from '#lib/http/handler.ts';
import { users } from '#lib/http/routes/users.ts';
import {
  changePassword,
  createUser,
  deleteUser,
  getUser,
  listUsers,
  toUserOut,
  updateUser,
} from '#lib/services/users.ts';

export const readMe = httpHandler(users.readMe, async ({ user }) => toUserOut(user));

export const updateMe = httpHandler(users.updateMe, async ({ db, user, body }) =>
  toUserOut(await updateUser(db, user.id, body)),
);

export const updatePasswordMe = httpHandler(users.updatePasswordMe, async ({ db, user, body }) => {
  await changePassword(db, user, body.current_password, body.new_password);
  return { message: 'Password updated successfully' };
});

export const deleteMe = httpHandler(users.deleteMe, async ({ db, user }) => {
  await deleteUser(db, user, user.id);
  return { message: 'User deleted successfully' };
});

export const register = httpHandler(users.register, async ({ db, body }) => {
  if (!config().usersOpenRegistration) {
    throw new ForbiddenError('Open user registration is forbidden on this server');
  }
  return toUserOut(await createUser(db, { ...body, is_active: true, is_superuser: false }));
});

export const list = httpHandler(users.list, async ({ db, query }) => {
  const page = await listUsers(db, query);
  return { ...page, data: page.data.map(toUserOut) };
});

export const create = httpHandler(users.create, async ({ db, body }) =>
  toUserOut(await createUser(db, body)),
);

export const read = httpHandler(users.read, async ({ db, params }) =>
  toUserOut(await getUser(db, params.user_id)),
);

export const update = httpHandler(users.update, async ({ db, params, body }) =>
  toUserOut(await updateUser(db, params.user_id, body)),
);

const deleteHandler = httpHandler(users.delete, async ({ db, user, params }) => {
  await deleteUser(db, user, params.user_id);
  return { message: 'User deleted successfully' };
});

export { deleteHandler as delete };
