import { describe, expect, it } from 'vitest';
import { routes } from '#lib/http/routes.ts';
import { compileRoutes, matchRoute } from './api-gateway.ts';

const compiled = compileRoutes(routes);

describe('matchRoute', () => {
  it('prefers static segments over parameters, as API Gateway does', () => {
    const me = matchRoute(compiled, 'GET', '/api/v1/users/me');
    expect(me && 'route' in me && me.route.handler).toBe('users.readMe');
    const byId = matchRoute(compiled, 'GET', '/api/v1/users/0191e0a0-0000-7000-8000-000000000000');
    expect(byId && 'route' in byId && byId.pathParameters).toEqual({
      user_id: '0191e0a0-0000-7000-8000-000000000000',
    });
    const ensure = matchRoute(compiled, 'POST', '/api/v1/workspaces/ensure-default');
    expect(ensure && 'route' in ensure && ensure.route.handler).toBe('workspaces.ensureDefault');
  });

  it('decodes path parameters and tolerates a trailing slash', () => {
    const m = matchRoute(compiled, 'POST', '/api/v1/password-recovery/a%2Bb%40example.com/');
    expect(m && 'route' in m && m.pathParameters).toEqual({ email: 'a+b@example.com' });
  });

  it('tells a wrong method from an unknown path', () => {
    expect(matchRoute(compiled, 'PUT', '/api/v1/workspaces')).toEqual({
      methodNotAllowed: ['POST', 'GET', 'HEAD'],
    });
    expect(matchRoute(compiled, 'GET', '/api/v2/workspaces')).toBeUndefined();
  });

  it('has exactly one route per method and path', () => {
    const keys = routes.map((r) => `${r.method} ${r.path}`);
    expect(new Set(keys).size).toBe(keys.length);
    const handlers = routes.map((r) => r.handler);
    expect(new Set(handlers).size).toBe(handlers.length);
  });
});
