import { describe, expect, it } from 'vitest';
import { routeEntry, routeId } from '#infra/naming.ts';
import { routes } from '#lib/http/routes.ts';

describe('routeId', () => {
  it('turns file.export into a PascalCase construct id', () => {
    expect(routeId({ handler: 'users.readMe' })).toBe('UsersReadMe');
    expect(routeId({ handler: 'system.docsAsset' })).toBe('SystemDocsAsset');
  });

  it('gives every route of the table its own id', () => {
    const ids = routes.map(routeId);
    expect(new Set(ids).size).toBe(routes.length);
  });

  it('refuses a handler that is not file.export', () => {
    expect(() => routeId({ handler: 'users' })).toThrow(/file\.export/);
    expect(() => routeId({ handler: 'users.read.me' })).toThrow(/file\.export/);
    expect(() => routeId({ handler: '../x.y' })).toThrow(/file\.export/);
  });
});

describe('routeEntry', () => {
  it('points at the file under functions/http and its export', () => {
    expect(routeEntry({ handler: 'workspaces.ensureDefault' })).toEqual({
      file: 'functions/http/workspaces.ts',
      exportName: 'ensureDefault',
    });
  });
});
