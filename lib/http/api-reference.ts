import type { z } from 'zod';
import { declaredStatuses, TAG_DESCRIPTIONS } from './openapi.ts';
import type { Route } from './route.ts';
import { routes } from './routes.ts';

const WHO: Record<Route['auth'], string> = {
  public: 'anyone',
  user: 'user',
  superuser: 'superuser',
  optional: 'anyone (token optional)',
};

/** The name a schema is documented under in the OpenAPI document, if it has one. */
function schemaName(schema: z.ZodType | undefined): string | undefined {
  const id = (schema?.meta() as { id?: unknown } | undefined)?.id;
  return typeof id === 'string' ? id : undefined;
}

function fieldsOf(schema: z.ZodType | undefined): string {
  const shape = (schema as { shape?: Record<string, unknown> } | undefined)?.shape;
  return shape
    ? Object.keys(shape)
        .map((k) => `\`${k}\``)
        .join(', ')
    : '';
}

/**
 * The API reference as Markdown, rendered from the route table: every documented operation by
 * area, who may call it, what it takes and what it answers. `npm run docs:api` writes it to
 * docs/api.md, and a test keeps that file equal to this, so the page cannot drift from the server.
 * Request and response bodies are described in full (with examples) in the OpenAPI document.
 */
export function apiReference(table: Route[] = routes): string {
  const documented = table.filter((r) => r.documented !== false);
  const tags = [...new Set(documented.flatMap((r) => r.tags))];
  const lines = [
    '# docsift API reference',
    '',
    'Generated from the route table (`npm run docs:api`; a test keeps it current). Every path is',
    'under the base URL (`http://127.0.0.1:8000` locally, the stack output `ApiUrl` in AWS). Bodies',
    'and answers are JSON unless noted; errors are RFC 9457 problem details. The full schemas, with',
    'examples, are in the OpenAPI document (`GET /api/v1/openapi.json`, `npm run openapi`) and the',
    'interactive docs at `/docs`.',
    '',
    'Columns: who may call it; the query parameters and the body it takes (the body by its schema',
    'name in the OpenAPI document); the success status (and the schema of its answer), then the',
    'other documented statuses.',
  ];
  for (const tag of tags) {
    lines.push('', `## ${tag}`, '', TAG_DESCRIPTIONS[tag] ?? '', '');
    lines.push('| operation | summary | who | takes | answers |', '| --- | --- | --- | --- | --- |');
    for (const route of documented.filter((r) => r.tags[0] === tag)) {
      const takes = [
        fieldsOf(route.query) && `query: ${fieldsOf(route.query)}`,
        route.body && `body: ${schemaName(route.body) ?? fieldsOf(route.body) ?? 'JSON'}`,
      ]
        .filter(Boolean)
        .join('; ');
      const statuses = declaredStatuses(route);
      const answer = schemaName(route.response.schema);
      const answers = [
        `${route.response.status}${answer ? ` ${answer}` : ''}`,
        ...statuses.filter((s) => s !== route.response.status).map(String),
      ].join(', ');
      const summary = route.summary.replaceAll('|', '\\|');
      lines.push(
        `| \`${route.method} ${route.path}\` | ${summary} | ${WHO[route.auth]} | ${takes} | ${answers} |`,
      );
    }
  }
  return `${lines.join('\n')}\n`;
}
