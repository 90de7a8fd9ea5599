import { writeFile } from 'node:fs/promises';
import { openApiDocument } from './openapi.ts';

// `npm run openapi [-- <file>]`: the OpenAPI document from the route table, offline (no
// database, no configuration, no server). With a file it writes there; without, to stdout,
// so it pipes (`npm run -s openapi | jq …`).
const [target] = process.argv.slice(2);
const json = `${JSON.stringify(openApiDocument(), null, 2)}\n`;
if (target && target !== '-') {
  await writeFile(target, json);
  console.error(`Wrote ${target}`);
} else {
  process.stdout.write(json);
}
