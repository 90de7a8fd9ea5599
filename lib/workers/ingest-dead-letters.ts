import { failDeadLetter } from '#lib/services/ingestion.ts';
import { deadLetterWorker } from './dead-letters.ts';

/** Consumes the ingest dead-letter queue: the runs its messages were about are failed with a reason. */
export const ingestDeadLetterWorker = deadLetterWorker('ingest', failDeadLetter);
