import { moto } from './aws/emulators.ts';
import { ingestCases } from './aws/ingest.cases.ts';

ingestCases(moto);
