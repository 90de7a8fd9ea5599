import type { Route } from '#lib/http/route.ts';

/**
 * The stable construct id of a route's function, from its handler name: `users.readMe` →
 * `UsersReadMe`. Handler names are unique in the route table, so ids are too; renaming a
 * handler replaces its function, moving it in the table does not.
 *
 * @example routeId({ handler: 'users.readMe', ... }) // 'UsersReadMe'
 */
export function routeId(route: Pick<Route, 'handler'>): string {
  const parts = route.handler.split('.');
  if (parts.length !== 2 || parts.some((p) => !/^[A-Za-z][A-Za-z0-9]*$/.test(p))) {
    throw new Error(`Route handler must look like 'file.export', got '${route.handler}'`);
  }
  return parts.map((p) => p[0]!.toUpperCase() + p.slice(1)).join('');
}

/** Splits a route's handler into the entry file (under functions/http) and its export. */
export function routeEntry(route: Pick<Route, 'handler'>): { file: string; exportName: string } {
  const [file, exportName] = route.handler.split('.') as [string, string];
  return { file: `functions/http/${file}.ts`, exportName };
}
