import { taskWorker } from '#lib/workers/tasks.ts';

/** The recurring-task dispatcher: firings from EventBridge Scheduler, manual runs and maintenance sweeps. */
export const handler = taskWorker;
