import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const LIB = dirname(fileURLToPath(import.meta.url));
const ROOT = dirname(LIB);

/** Every .ts file under lib/, relative to the repository root. */
function libFiles(dir = LIB): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return libFiles(path);
    return entry.name.endsWith('.ts') ? [relative(ROOT, path)] : [];
  });
}

// Static imports and re-exports (type-only ones too: a cycle of types is still a tangle), and
// dynamic imports of a literal path.
const IMPORT = /(?:^|[\s;])(?:import|export)\s[^'";]*?from\s*'([^']+)'|import\(\s*'([^']+)'\s*\)/g;

/** The lib/ modules `file` imports, by `#lib/` or relative path. */
function libImports(file: string): string[] {
  const source = readFileSync(join(ROOT, file), 'utf8');
  const targets: string[] = [];
  for (const match of source.matchAll(IMPORT)) {
    const spec = match[1] ?? match[2]!;
    const target = spec.startsWith('#lib/')
      ? join('lib', spec.slice('#lib/'.length))
      : spec.startsWith('.')
        ? normalize(join(dirname(file), spec))
        : undefined;
    if (target?.startsWith('lib/')) targets.push(target);
  }
  return targets;
}

/** The import graph's cycles: its strongly connected components of more than one module (Tarjan). */
function cycles(graph: Map<string, string[]>): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const visit = (node: string) => {
    index.set(node, index.size);
    low.set(node, index.get(node)!);
    stack.push(node);
    onStack.add(node);
    for (const next of graph.get(node) ?? []) {
      if (!graph.has(next)) continue;
      if (!index.has(next)) {
        visit(next);
        low.set(node, Math.min(low.get(node)!, low.get(next)!));
      } else if (onStack.has(next)) {
        low.set(node, Math.min(low.get(node)!, index.get(next)!));
      }
    }
    if (low.get(node) === index.get(node)) {
      const component: string[] = [];
      let member: string;
      do {
        member = stack.pop()!;
        onStack.delete(member);
        component.push(member);
      } while (member !== node);
      if (component.length > 1 || graph.get(node)!.includes(node)) found.push(component.sort());
    }
  };
  for (const node of graph.keys()) if (!index.has(node)) visit(node);
  return found;
}

describe('lib/ import graph', () => {
  const graph = new Map(libFiles().map((file) => [file, libImports(file)]));

  it('sees the imports it walks', () => {
    expect(graph.get('lib/http/routes.ts')).toContain('lib/http/routes/tasks.ts');
    expect(graph.get('lib/http/problem.ts')).toContain('lib/errors.ts');
  });

  it('has no import cycle (a cycle wants a smaller third module)', () => {
    expect(cycles(graph)).toEqual([]);
  });

  it('keeps the domain out of the web layer: only lib/http and lib/local import lib/http/errors.ts', () => {
    const offenders = [...graph]
      .filter(
        ([file, targets]) => !/^lib\/(http|local)\//.test(file) && targets.includes('lib/http/errors.ts'),
      )
      .map(([file]) => file);
    expect(offenders).toEqual([]);
  });
});
