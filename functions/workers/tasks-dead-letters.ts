import { withDbRole } from '#lib/db/database.ts';
import { taskDeadLetterWorker } from '#lib/workers/tasks-dead-letters.ts';
import { keepingVisible } from '#lib/workers/visibility.ts';

/** Consumes the task dead-letter queue: fails the runs of given-up firings. */
export const handler = withDbRole('dead-letters', keepingVisible(taskDeadLetterWorker));
