import { localstack } from './aws/emulators.ts';
import { ingestCases } from './aws/ingest.cases.ts';

ingestCases(localstack);
