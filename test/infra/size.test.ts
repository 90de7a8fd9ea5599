import { describe, expect, it } from 'vitest';
import { areaOf } from '#infra/constructs/api.ts';
import { variantsOf } from '#lib/http/compat.ts';
import { routes } from '#lib/http/routes.ts';
import { buildStack } from './stack.ts';

/**
 * CloudFormation refuses a stack of more than 500 resources, nested stacks included (each
 * counts alone). The cap here is lower, so the suite fails while there is still room to act
 * (another split of the API, say) rather than on the deploy that crosses 500.
 */
const MAX_RESOURCES = 400;

/**
 * What one HTTP route may cost, in its area's nested stack: its function, the permission letting
 * API Gateway invoke it, its integration and its route. The route functions share their roles,
 * their policies and their log group (infra/constructs/api.ts), so a new route adds none of
 * those, and nothing to the parent stack.
 */
const MAX_RESOURCES_PER_ROUTE = 4;

// Every optional feature on, the largest shape of the stack.
const allFeatures = {
  corsOrigins: ['https://app.example.com'],
  emailsFrom: 'a@example.com',
  firstSuperuserEmail: 'b@example.com',
  bedrockModels: ['amazon.nova-lite-v1:0'],
  classifierDefaultProvider: 'bedrock' as const,
  tracing: true,
  alarmEmail: 'ops@example.com',
};

/** Resource ids of every stack, the parent by its own path, each nested one by its path. */
function stacksOf(props: Parameters<typeof buildStack>[0]): Map<string, Record<string, { Type: string }>> {
  const { stack, template, nested } = buildStack(props);
  return new Map([
    [stack.node.path, template.toJSON().Resources],
    ...[...nested].map(([path, t]) => [path, t.toJSON().Resources] as const),
  ]);
}

const count = (stacks: Map<string, Record<string, unknown>>) =>
  [...stacks.values()].reduce((sum, r) => sum + Object.keys(r).length, 0);

describe('stack size', () => {
  const full = stacksOf(allFeatures);

  it(`keeps every stack, the parent and each nested one, below ${MAX_RESOURCES} resources`, () => {
    // The parent and one nested stack per API area.
    expect(full.size).toBe(1 + new Set(routes.map(areaOf)).size);
    for (const [path, resources] of full) {
      expect(Object.keys(resources).length, path).toBeLessThan(MAX_RESOURCES);
    }
  });

  it(`costs at most ${MAX_RESOURCES_PER_ROUTE} resources per route, all in its area's stack, the same for every route`, () => {
    // What one route costs: the stacks with and without it. The dropped route's area keeps others.
    const dropped = routes.at(-1)!;
    expect(routes.filter((r) => areaOf(r) === areaOf(dropped)).length).toBeGreaterThan(1);
    const without = stacksOf({ ...allFeatures, routes: routes.filter((r) => r !== dropped) });
    expect([...without.keys()]).toEqual([...full.keys()]);
    const changed = [...full].filter(
      ([path, r]) => Object.keys(r).length !== Object.keys(without.get(path)!).length,
    );
    // Only the route's own area changes; the parent and the other areas do not.
    expect(changed.map(([path]) => path)).toEqual([expect.stringMatching(/\/Api\/[A-Z]\w+$/)]);
    const [path, resources] = changed[0]!;
    expect(path.toLowerCase()).toMatch(new RegExp(`/api/${areaOf(dropped)}$`));
    const before = without.get(path)!;
    const added = Object.keys(resources).filter((id) => !(id in before));
    expect(Object.keys(before).filter((id) => !(id in resources))).toEqual([]);
    expect(added.map((id) => resources[id]!.Type).sort()).toEqual([
      'AWS::ApiGatewayV2::Integration',
      'AWS::ApiGatewayV2::Route',
      'AWS::Lambda::Function',
      'AWS::Lambda::Permission',
    ]);
    expect(added.length).toBeLessThanOrEqual(MAX_RESOURCES_PER_ROUTE);
    // And every route costs that: the areas hold their routes and nothing else, and the
    // parent's only per-area cost is the nested stack itself.
    const noRoutes = stacksOf({ ...allFeatures, routes: [] });
    expect(noRoutes.size).toBe(1);
    const areas = full.size - 1;
    // A path of the reference-client profile (lib/http/compat.ts) adds one route, nothing else.
    const profilePaths = routes.flatMap((r) => variantsOf(r).slice(1)).length;
    expect(count(full) - count(noRoutes)).toBe(routes.length * added.length + profilePaths + areas);
  });

  it('leaves room in the largest area for the routes still to come', () => {
    // Issues to come add about 25 routes (sharing, datasets, import), in areas of their own or
    // existing ones: even all of them in the largest area fit.
    const largest = Math.max(
      ...[...full].filter(([p]) => p.includes('/Api/')).map(([, r]) => Object.keys(r).length),
    );
    expect(largest + 25 * MAX_RESOURCES_PER_ROUTE).toBeLessThan(MAX_RESOURCES);
  });
});
