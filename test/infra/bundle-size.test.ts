import path from 'node:path';
import { build, type Metafile } from 'esbuild';
import { beforeAll, describe, expect, it } from 'vitest';
import { bundleOptions, functionEntries, initialFiles, PROJECT_ROOT } from '#infra/bundling.ts';

/**
 * What a function may load at a cold start (issue 11's goal for routes; the workers meet it
 * too): its bundle's `index.mjs` and the chunks it imports statically. Heavy code needed on some
 * paths only (pdf.js, the HTML parser, the password dictionary, the tokenizer, the SDK clients)
 * must stay behind an import().
 */
const MAX_START_BYTES = 1_000_000;

const entries = functionEntries();
/** The output of each entry, as the metafile names it. */
const outputOf = (entry: string) =>
  path.relative(PROJECT_ROOT, path.join(outdir, entry.replace(/\.ts$/, ''), 'index.mjs'));
const outdir = path.join(PROJECT_ROOT, 'node_modules', '.cache', 'docsift-bundle-size');
let metafile: Metafile;

beforeAll(async () => {
  // Every function in one esbuild run with the app's options (each module parsed once: a few
  // seconds instead of one build per function); nothing written. Shared modules land in shared
  // chunks, so what an entry loads at start is the same modules as in its own bundle.
  const options = bundleOptions('', outdir);
  const result = await build({
    ...options,
    entryPoints: Object.fromEntries(entries.map(({ entry }) => [entry.replace(/\.ts$/, '/index'), entry])),
    write: false,
  });
  metafile = result.metafile!;
}, 120_000);

describe('bundle sizes', () => {
  it('builds every route area and worker', () => {
    expect(entries.filter((e) => e.kind === 'routes').map((e) => e.entry)).toContain(
      'functions/http/users.ts',
    );
    expect(entries.filter((e) => e.kind === 'worker').map((e) => e.entry)).toContain(
      'functions/workers/ingest.ts',
    );
    for (const { entry } of entries) expect(metafile.outputs[outputOf(entry)], entry).toBeDefined();
  });

  it(`keeps what each function loads at start under ${MAX_START_BYTES / 1e6} MB`, () => {
    // The modules' code, not the files': split over more entries, the code comes in smaller chunks
    // whose imports and exports of each other add a fifth (a function's own build, which
    // `npm run bench:cold` measures, has few chunks at start and little of that).
    const sizes = entries.map(({ entry }) => {
      let bytes = 0;
      for (const file of initialFiles(metafile, outputOf(entry))) {
        for (const input of Object.values(metafile.outputs[file]!.inputs)) bytes += input.bytesInOutput;
      }
      return { entry, bytes };
    });
    const over = sizes.filter(({ bytes }) => bytes > MAX_START_BYTES);
    expect(over.map(({ entry, bytes }) => `${entry}: ${(bytes / 1e6).toFixed(2)} MB`)).toEqual([]);
  });

  it('loads pdf.js, the scraper, the tokenizer and the password dictionary lazily, and one zod locale', () => {
    // The inputs of what each worker and route loads at start: none of the heavy libraries.
    const startInputs = (entry: string) =>
      [...initialFiles(metafile, outputOf(entry))].flatMap((file) =>
        Object.keys(metafile.outputs[file]!.inputs),
      );
    // The Bedrock clients (online and batch inference's control plane) come with the first call.
    const heavy =
      /node_modules\/(unpdf|cheerio|undici|js-tiktoken|@zxcvbn-ts|@aws-sdk\/client-bedrock(-runtime)?)\//;
    // zod's other locales come with `import { z } from 'zod'`, which keeps all of zod (350 KB
    // more in every bundle): import it as `import * as z from 'zod'`.
    const zodLocale = /node_modules\/zod\/v4\/locales\/(?!en\.js$|index\.js$)/;
    for (const { entry } of entries) {
      const loaded = startInputs(entry).filter((input) => heavy.test(input) || zodLocale.test(input));
      expect(loaded, entry).toEqual([]);
    }
    // And they are in the bundles, behind an import(): the ingest worker reads PDFs, the jobs
    // route's dry run counts tokens.
    const everything = Object.values(metafile.outputs).flatMap((output) => Object.keys(output.inputs));
    expect(everything.some((input) => input.includes('node_modules/unpdf/'))).toBe(true);
    expect(everything.some((input) => input.includes('node_modules/@aws-sdk/client-bedrock/'))).toBe(true);
    expect(everything.some((input) => input.includes('node_modules/js-tiktoken/dist/ranks/o200k_base'))).toBe(
      true,
    );
  });
});
