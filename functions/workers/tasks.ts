import { withDbRole } from '#lib/db/database.ts';
import { taskWorker } from '#lib/workers/tasks.ts';
import { keepingVisible } from '#lib/workers/visibility.ts';

/** The recurring-task dispatcher: firings from EventBridge Scheduler, manual runs and maintenance sweeps. */
export const handler = withDbRole('tasks', keepingVisible(taskWorker));
