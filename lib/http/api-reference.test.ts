import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { apiReference } from './api-reference.ts';
import { routes } from './routes.ts';

describe('docs/api.md', () => {
  it('is the reference rendered from the route table (run `npm run docs:api` after changing routes)', () => {
    expect(readFileSync('docs/api.md', 'utf8')).toBe(apiReference());
  });

  it('lists every documented operation', () => {
    const page = apiReference();
    for (const route of routes.filter((r) => r.documented !== false)) {
      expect(page, route.handler).toContain(`\`${route.method} ${route.path}\``);
    }
  });
});
