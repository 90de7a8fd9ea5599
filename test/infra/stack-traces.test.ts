import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { bundleFunction } from '#infra/bundling.ts';

const outdir = mkdtempSync(path.join(tmpdir(), 'docsift-stack-traces-'));
afterAll(() => rmSync(outdir, { recursive: true, force: true }));

/** Bundles an entry as the app does and returns the stack of what its handler throws, read in a fresh Node. */
function stackOf(entry: string): string {
  const dir = path.join(outdir, path.basename(entry, '.ts'));
  bundleFunction(entry, dir);
  const script = `
    const { handler } = await import(process.argv[1]);
    await handler().catch((error) => process.stdout.write(error.stack));`;
  const bundle = pathToFileURL(path.join(dir, 'index.mjs')).href;
  // No --enable-source-maps, as in Lambda: the bundle maps its stacks itself.
  return execFileSync(process.execPath, ['--input-type=module', '-e', script, bundle], {
    env: { PATH: process.env.PATH },
  }).toString();
}

describe('stack traces of bundles', () => {
  it('point into the sources, relative to the repository root, with the functions named', () => {
    const stack = stackOf('test/support/throwing-handler.ts').split('\n');
    expect(stack[0]).toBe('Error: failed on purpose');
    expect(stack[1]).toMatch(/^ {4}at failDeep \(test\/support\/throwing-handler\.ts:3:9\)$/);
    expect(stack[2]).toMatch(/^ {4}at (async )?\S+ \(test\/support\/throwing-handler\.ts:8:10\)$/);
    expect(stack.join('\n')).not.toContain('index.mjs');
  });
});
