import { withDbRole } from '#lib/db/database.ts';
import { classifyWorker } from '#lib/workers/classify.ts';

/** The classify worker: job planning and classification messages from the classify queue. */
export const handler = withDbRole('classify', classifyWorker);
