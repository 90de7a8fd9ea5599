import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { bundleFunction, bundleSize } from '#infra/bundling.ts';

// Entries bundled as the app bundles its functions, then run in a fresh Node as Lambda runs
// them (no --enable-source-maps): what only shows once the code is a bundle with chunks.
const outdir = mkdtempSync(path.join(tmpdir(), 'docsift-bundled-'));
afterAll(() => rmSync(outdir, { recursive: true, force: true }));

/** Bundles `entry`, calls its handler in a fresh Node and returns what it printed: the result, or the error's stack. */
function runBundled(entry: string, env: Record<string, string> = {}): { output: string; lazyBytes: number } {
  const dir = path.join(outdir, path.basename(entry, '.ts'));
  const { lazyBytes } = bundleSize(bundleFunction(entry, dir));
  const script = `
    const { handler } = await import(process.argv[1]);
    await handler().then(
      (result) => process.stdout.write(JSON.stringify(result)),
      (error) => process.stdout.write(error.stack),
    );`;
  const bundle = pathToFileURL(path.join(dir, 'index.mjs')).href;
  const output = execFileSync(process.execPath, ['--input-type=module', '-e', script, bundle], {
    env: { PATH: process.env.PATH, ...env },
  }).toString();
  return { output, lazyBytes };
}

describe('bundled functions', () => {
  it('write stack traces that point into the sources, relative to the repository root', () => {
    const stack = runBundled('test/support/throwing-handler.ts').output.split('\n');
    expect(stack[0]).toBe('Error: failed on purpose');
    expect(stack[1]).toMatch(/^ {4}at failDeep \(test\/support\/throwing-handler\.ts:3:9\)$/);
    expect(stack[2]).toMatch(/^ {4}at (async )?\S+ \(test\/support\/throwing-handler\.ts:8:10\)$/);
    expect(stack.join('\n')).not.toContain('index.mjs');
  });

  it("count a dry run's tokens with OpenAI's tokenizer, its ranks a chunk loaded on demand", () => {
    const { output, lazyBytes } = runBundled('test/support/token-count-handler.ts');
    expect(JSON.parse(output)).toEqual({ method: 'o200k_base', count: 2 });
    // The 2.3 MB of ranks are beside the bundle, not in what it loads at start.
    expect(lazyBytes).toBeGreaterThan(2_000_000);
  });

  it('stream rows into Postgres with COPY (pg-copy-streams, CommonJS, bundled)', () => {
    const { output } = runBundled('test/support/copy-handler.ts', {
      DATABASE_URL: inject('adminDatabaseUrl'),
    });
    expect(JSON.parse(output)).toEqual({ copied: 2, stored: ['a\tb', 'c\\d'] });
  });
});
