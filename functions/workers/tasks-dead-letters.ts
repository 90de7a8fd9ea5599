import { taskDeadLetterWorker } from '#lib/workers/tasks-dead-letters.ts';

/** Consumes the task dead-letter queue: fails the runs of given-up firings. */
export const handler = taskDeadLetterWorker;
