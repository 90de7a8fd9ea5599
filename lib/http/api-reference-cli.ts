import { writeFileSync } from 'node:fs';
import { apiReference } from './api-reference.ts';

// `npm run docs:api`: writes the API reference rendered from the route table.
const target = process.argv[2] ?? 'docs/api.md';
writeFileSync(target, apiReference());
console.log(`Wrote ${target}`);
