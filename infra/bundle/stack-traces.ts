import { readFileSync } from 'node:fs';
import { SourceMap, type SourceOrigin } from 'node:module';
import { fileURLToPath } from 'node:url';

// Injected into every bundle (infra/bundling.ts). Stack traces point into the sources, as with
// Node's --enable-source-maps, but a bundle's map is read when a stack is first formatted (an
// error logged), not by every cold start: Node's flag parses each map while loading its module.

const maps = new Map<string, SourceMap | undefined>();

/** The source map beside a bundle file (`index.mjs.map`), read once; none if it cannot be read. */
function sourceMapOf(fileUrl: string): SourceMap | undefined {
  if (!maps.has(fileUrl)) {
    let map: SourceMap | undefined;
    try {
      map = new SourceMap(JSON.parse(readFileSync(`${fileURLToPath(fileUrl)}.map`, 'utf8')));
    } catch {
      map = undefined;
    }
    maps.set(fileUrl, map);
  }
  return maps.get(fileUrl);
}

/** Where a call site is in the sources, when its bundle's map knows. */
function originOf(site: NodeJS.CallSite): SourceOrigin | undefined {
  const file = site.getFileName();
  const line = site.getLineNumber();
  const column = site.getColumnNumber();
  if (!file?.startsWith('file://') || !line || !column) return undefined;
  const origin = sourceMapOf(file)?.findOrigin(line, column);
  return origin && 'fileName' in origin ? (origin as SourceOrigin) : undefined;
}

Error.prepareStackTrace = (error: Error, sites: NodeJS.CallSite[]) => {
  const origins = sites.map(originOf);
  const frames = sites.map((site, i) => {
    const origin = origins[i];
    if (!origin) return `    at ${site}`;
    // A frame's function is named where its caller calls it, as Node's own mapping does.
    const name = origins[i + 1]?.name ?? site.getFunctionName() ?? '<anonymous>';
    const where = `${origin.fileName}:${origin.lineNumber}:${origin.columnNumber}`;
    return `    at ${site.isAsync() ? 'async ' : ''}${name} (${where})`;
  });
  return [String(error), ...frames].join('\n');
};
