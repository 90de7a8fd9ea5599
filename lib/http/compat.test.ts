import { describe, expect, it } from 'vitest';
import { COMPAT_PREFIX, routeKeyOf, variantsOf } from './compat.ts';
import { routes } from './routes.ts';

const variants = routes.flatMap(variantsOf);

describe('the reference-client profile', () => {
  it('gives every method and path one route, the profile’s under its prefix', () => {
    const keys = variants.map(routeKeyOf);
    expect(keys.filter((key, i) => keys.indexOf(key) !== i)).toEqual([]);
    for (const v of variants.filter((v) => v.compat))
      expect(v.path.startsWith(`${COMPAT_PREFIX}/api/`)).toBe(true);
  });

  it('refuses with a 4xx whose detail names docsift’s way to do it', () => {
    const refused = variants.filter((v) => v.refuse);
    expect(refused.length).toBeGreaterThan(0);
    for (const { refuse } of refused) {
      expect(refuse!.status).toBeGreaterThanOrEqual(400);
      expect(refuse!.status).toBeLessThan(500);
      expect(refuse!.detail).toMatch(/\/api\/v1\//);
    }
  });
});
