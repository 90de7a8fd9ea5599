import { withDbRole } from '#lib/db/database.ts';
import { ingestDeadLetterWorker } from '#lib/workers/ingest-dead-letters.ts';
import { keepingVisible } from '#lib/workers/visibility.ts';

/** Consumes the ingest dead-letter queue: marks the datasources of given-up messages failed. */
export const handler = withDbRole('dead-letters', keepingVisible(ingestDeadLetterWorker));
