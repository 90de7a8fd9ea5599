import { failDeadClassifyMessage } from '#lib/services/classification.ts';
import { deadLetterWorker } from './dead-letters.ts';

/** Consumes the classify dead-letter queue: the items of given-up messages fail with a reason. */
export const classifyDeadLetterWorker = deadLetterWorker('classify', failDeadClassifyMessage);
