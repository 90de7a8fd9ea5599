import { withDbRole } from '#lib/db/database.ts';
import { ingestWorker } from '#lib/workers/ingest.ts';
import { keepingVisible } from '#lib/workers/visibility.ts';

/** The ingest worker: S3 upload events and ingest messages from the ingest queue. */
export const handler = withDbRole('ingest', keepingVisible(ingestWorker));
