import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { type BuildOptions, buildSync, type Metafile } from 'esbuild';
import { routes } from '#lib/http/routes.ts';
import { routeEntry } from './naming.ts';

/** The repository root: entries, the lock file and node_modules are resolved from here. */
export const PROJECT_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/**
 * Prepended to every output file. Our bundles are ESM, but CommonJS dependencies (pg among
 * them) call `require` for Node built-ins, which ESM does not define.
 */
export const REQUIRE_BANNER =
  "import { createRequire as __docsiftCreateRequire } from 'node:module'; const require = __docsiftCreateRequire(import.meta.url);";

/** Modules left out of every bundle: pg only probes for pg-native, which nobody installs. */
export const EXTERNAL_MODULES = ['pg-native'];

/**
 * Imports of node:http resolve to a CommonJS module handing out the built-in module itself
 * (infra/bundle/node-http.cjs): for an ESM `import … from 'node:http'` (middy's, the SDK's) Node
 * builds its ESM view of the module, whose lazy WebSocket getters load Node's internal undici:
 * 60–75 ms of every cold start, against 8 ms through process.getBuiltinModule.
 */
const NODE_HTTP = { http: './infra/bundle/node-http.cjs', 'node:http': './infra/bundle/node-http.cjs' };

/** Where esbuild puts the shared and lazily imported parts of a bundle, beside `index.mjs`. */
export const CHUNK_DIR = 'chunks';

/**
 * The esbuild options of every Lambda bundle: the CDK app (appFunction), `npm run bench:cold`
 * and the bundle-size test all build with these, so what they measure is what ships.
 *
 * - ESM with code splitting: a dynamic `import()` becomes a file of its own under `chunks/`,
 *   loaded only when the code path that needs it runs (pdf.js, the HTML parser, the password
 *   dictionary, the tokenizer's ranks), instead of being parsed with the handler at cold start.
 * - Minified; linked source maps without the sources (stack traces need the mappings only),
 *   read when a stack is formatted (infra/bundle/stack-traces.ts, injected), not at start.
 * - The AWS SDK is bundled: the lock file's version rather than whatever the runtime carries,
 *   minified and tree-shaken into the chunks that use it (see docs/architecture.md).
 */
export function bundleOptions(entry: string, outdir: string): BuildOptions {
  return {
    absWorkingDir: PROJECT_ROOT,
    entryPoints: { index: entry },
    outdir,
    outExtension: { '.js': '.mjs' },
    chunkNames: `${CHUNK_DIR}/[name]-[hash]`,
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node24',
    // Prefer the ESM build of dual packages, as Node's own resolution would under `import`.
    mainFields: ['module', 'main'],
    banner: { js: REQUIRE_BANNER },
    external: EXTERNAL_MODULES,
    alias: NODE_HTTP,
    minify: true,
    sourcemap: 'linked',
    sourcesContent: false,
    inject: ['./infra/bundle/stack-traces.ts'],
    metafile: true,
    logLevel: 'error',
  };
}

/**
 * Bundles one Lambda entry (a path relative to the repository root) into `outdir`:
 * `index.mjs`, its chunks and their source maps. Synchronous, as CDK's local bundling is.
 *
 * @example bundleFunction('functions/http/users.ts', '/tmp/users')
 */
export function bundleFunction(entry: string, outdir: string): Metafile {
  const { metafile } = buildSync(bundleOptions(entry, outdir));
  for (const output of Object.keys(metafile!.outputs)) {
    if (output.endsWith('.map')) sourcesFromRoot(path.resolve(PROJECT_ROOT, output));
  }
  return metafile!;
}

/**
 * Rewrites a source map's sources relative to the repository root (`functions/http/users.ts`,
 * `node_modules/zod/…`), so a stack trace reads the same wherever the bundle was built.
 */
function sourcesFromRoot(mapFile: string): void {
  const map = JSON.parse(readFileSync(mapFile, 'utf8')) as { sources: string[] };
  map.sources = map.sources.map((source) =>
    path.relative(PROJECT_ROOT, path.resolve(path.dirname(mapFile), source)),
  );
  writeFileSync(mapFile, JSON.stringify(map));
}

/** What a bundle costs: the bytes loaded at import (index.mjs and its static chunks), and the rest. */
export type BundleSize = {
  /** index.mjs plus every chunk it imports statically, transitively: what a cold start reads. */
  initialBytes: number;
  /** Chunks reached only through a dynamic import(), loaded when their code path runs. */
  lazyBytes: number;
};

/**
 * The JavaScript an entry loads at import: its output file and every chunk it imports
 * statically, transitively. `output` is relative to the build's working directory, as in the
 * metafile. Source maps are not counted: they are read only to format a stack.
 */
export function initialFiles(metafile: Metafile, output: string): Set<string> {
  const files = new Set<string>();
  const pending = [output];
  while (pending.length > 0) {
    const file = pending.pop()!;
    if (files.has(file)) continue;
    files.add(file);
    for (const imported of metafile.outputs[file]?.imports ?? []) {
      if (imported.kind === 'import-statement' && imported.path in metafile.outputs)
        pending.push(imported.path);
    }
  }
  return files;
}

/** Splits a one-entry bundle's JavaScript into what `index.mjs` loads at import and the lazy rest. */
export function bundleSize(metafile: Metafile): BundleSize {
  const outputs = metafile.outputs;
  // Every dynamic import's target is an entry point too: the bundle's own is index.mjs.
  const entry = Object.keys(outputs).find((file) => path.basename(file) === 'index.mjs');
  if (!entry) throw new Error('The metafile has no index.mjs');
  const initial = initialFiles(metafile, entry);
  let initialBytes = 0;
  let lazyBytes = 0;
  for (const [file, output] of Object.entries(outputs)) {
    if (!file.endsWith('.mjs')) continue;
    if (initial.has(file)) initialBytes += output.bytes;
    else lazyBytes += output.bytes;
  }
  return { initialBytes, lazyBytes };
}

/** A Lambda entry of the app: what `npm run bench:cold` and the bundle-size test build. */
export type FunctionEntry = {
  /** Relative to the repository root: `functions/http/users.ts`. */
  entry: string;
  /** An API area's entry serves each of its routes (a function per route, one bundle); a worker its queue. */
  kind: 'routes' | 'worker';
  /** How many routes' functions use this bundle (0 for workers). */
  routes: number;
};

/** Every Lambda entry the CDK app bundles but the migration trigger: one per API area, one per queue worker. */
export function functionEntries(): FunctionEntry[] {
  const areas = new Map<string, number>();
  for (const route of routes) {
    const { file } = routeEntry(route);
    areas.set(file, (areas.get(file) ?? 0) + 1);
  }
  const workers = readdirSync(path.join(PROJECT_ROOT, 'functions/workers'))
    .filter((file) => file.endsWith('.ts') && !file.endsWith('.test.ts'))
    .sort()
    .map((file) => `functions/workers/${file}`);
  return [
    ...[...areas].sort().map(([entry, count]) => ({ entry, kind: 'routes' as const, routes: count })),
    ...workers.map((entry) => ({ entry, kind: 'worker' as const, routes: 0 })),
  ];
}
