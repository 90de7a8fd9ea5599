import { logger } from '#lib/logger.ts';
import { failDeadTaskMessage } from '#lib/services/task-runs.ts';
import { deadLetterWorker } from './dead-letters.ts';
import { taskRunDeps } from './tasks.ts';

/** Consumes the task dead-letter queue: the run of a given-up firing fails, and counts as a failure. */
export const taskDeadLetterWorker = deadLetterWorker('tasks', async (_db, body) =>
  failDeadTaskMessage(await taskRunDeps(logger), body),
);
