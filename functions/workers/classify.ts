import { classifyWorker } from '#lib/workers/classify.ts';

/** The classify worker: job planning and classification messages from the classify queue. */
export const handler = classifyWorker;
