import { withDbRole } from '#lib/db/database.ts';
import { classifyDeadLetterWorker } from '#lib/workers/classify-dead-letters.ts';
import { keepingVisible } from '#lib/workers/visibility.ts';

/** Consumes the classify dead-letter queue: fails the items of given-up messages. */
export const handler = withDbRole('dead-letters', keepingVisible(classifyDeadLetterWorker));
