import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { RawResponse } from './response.ts';

/** The Swagger UI files served under /docs/, with their media types. */
export const DOCS_ASSETS: Record<string, string> = {
  'swagger-ui.css': 'text/css; charset=utf-8',
  'swagger-ui-bundle.js': 'text/javascript; charset=utf-8',
};

// In a Lambda bundle the files are copied beside the handler (see infra); elsewhere they are
// read from the installed swagger-ui-dist package. Either way nothing comes from a CDN.
function assetDirs(): string[] {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const dirs = [path.join(here, 'swagger-ui')];
  try {
    const pkg = createRequire(import.meta.url).resolve('swagger-ui-dist/package.json');
    dirs.push(path.dirname(pkg));
  } catch {
    // Not installed beside us: the bundle's copy is the only one.
  }
  return dirs;
}

/** Reads a Swagger UI asset, or undefined when the name is not one of ours. */
export async function readDocsAsset(name: string): Promise<Buffer | undefined> {
  if (!Object.hasOwn(DOCS_ASSETS, name)) return undefined;
  for (const dir of assetDirs()) {
    try {
      return await readFile(path.join(dir, name));
    } catch {
      // try the next place
    }
  }
  return undefined;
}

/** The /docs page: Swagger UI on /api/v1/openapi.json, with a policy that allows only our own files. */
export function docsPage(): RawResponse {
  const html = `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>docsift API</title>
  <link rel="stylesheet" href="/docs/swagger-ui.css">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="/docs/swagger-ui-bundle.js"></script>
  <script src="/docs/init.js"></script>
</body>
</html>`;
  return new RawResponse(200, html, {
    'content-type': 'text/html; charset=utf-8',
    'content-security-policy':
      "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'",
  });
}

/**
 * The script that starts Swagger UI (a file, not inline, so the policy needs no 'unsafe-inline'
 * scripts). `deepLinking` makes `/docs#/datasources/datasources_create` open that operation.
 */
export const DOCS_INIT_SCRIPT = `window.ui = SwaggerUIBundle(${JSON.stringify({
  url: '/api/v1/openapi.json',
  dom_id: '#swagger-ui',
  persistAuthorization: true,
  deepLinking: true,
})});\n`;
