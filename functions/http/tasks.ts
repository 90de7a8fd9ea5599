import { llm } from '#lib/classify/providers.ts';
import { config } from '#lib/config.ts';
import type { Db } from '#lib/db/database.ts';
import { httpHandler } from '#lib/http/handler.ts';
import { tasks } from '#lib/http/routes/tasks.ts';
import { platform } from '#lib/platform.ts';
import {
  createTask,
  deleteTask,
  listTaskRuns,
  listTasks,
  requireTask,
  runTaskNow,
  toTaskOut,
  updateTask,
} from '#lib/services/recurring-tasks.ts';

const deps = (db: Db) => ({
  db,
  scheduler: platform().scheduler,
  providers: llm(),
  settings: { minIntervalMinutes: config().taskMinIntervalMinutes },
});

export const create = httpHandler(tasks.create, async ({ db, user, params, body }) =>
  toTaskOut(await createTask(deps(db), user, params.workspace_id, body)),
);

export const list = httpHandler(tasks.list, async ({ db, user, params, query }) =>
  listTasks(db, user, params.workspace_id, query),
);

export const read = httpHandler(tasks.read, async ({ db, user, params }) =>
  toTaskOut(await requireTask(db, user, params.workspace_id, params.task_id)),
);

export const update = httpHandler(tasks.update, async ({ db, user, params, body }) =>
  toTaskOut(await updateTask(deps(db), user, params.workspace_id, params.task_id, body)),
);

const deleteHandler = httpHandler(tasks.delete, async ({ db, user, params }) => {
  await deleteTask(deps(db), user, params.workspace_id, params.task_id);
  return undefined;
});

export { deleteHandler as delete };

export const run = httpHandler(tasks.run, async ({ db, user, params }) =>
  runTaskNow(db, platform().queue, user, params.workspace_id, params.task_id, {
    taskQueue: config().taskQueue,
  }),
);

export const runs = httpHandler(tasks.runs, async ({ db, user, params, query }) =>
  listTaskRuns(db, user, params.workspace_id, params.task_id, query),
);
