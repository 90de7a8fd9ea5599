import { withDbRole } from '#lib/db/database.ts';
import { classifyWorker } from '#lib/workers/classify.ts';
import { keepingVisible } from '#lib/workers/visibility.ts';

/** The classify worker: job planning and classification messages, its messages kept hidden while it works. */
export const handler = withDbRole('classify', keepingVisible(classifyWorker));
