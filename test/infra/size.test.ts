import { describe, expect, it } from 'vitest';
import { routes } from '#lib/http/routes.ts';
import { buildStack, inspect } from './stack.ts';

/**
 * CloudFormation refuses a stack of more than 500 resources. The cap here is lower, so the
 * suite fails while there is still room to act (a nested stack for the API, say) rather than
 * on the deploy that crosses 500.
 */
const MAX_RESOURCES = 400;

/**
 * What one HTTP route may cost: its function, the permission letting API Gateway invoke it,
 * its integration and its route. The route functions share their role, its policy and their
 * log group (infra/constructs/api.ts), so a new route adds none of those.
 */
const MAX_RESOURCES_PER_ROUTE = 4;

// Every optional feature on, the largest shape of the stack.
const allFeatures = {
  corsOrigins: ['https://app.example.com'],
  emailsFrom: 'a@example.com',
  firstSuperuserEmail: 'b@example.com',
  bedrockModels: ['amazon.nova-lite-v1:0'],
  classifierDefaultProvider: 'bedrock' as const,
};

const resourcesOf = (props: Parameters<typeof buildStack>[0]) =>
  inspect(buildStack(props).template).resources;

describe('stack size', () => {
  const full = resourcesOf(allFeatures);
  const fullCount = Object.keys(full).length;

  it(`stays below ${MAX_RESOURCES} resources, well inside CloudFormation's 500`, () => {
    expect(fullCount).toBeLessThan(MAX_RESOURCES);
  });

  it(`costs at most ${MAX_RESOURCES_PER_ROUTE} resources per route, the same for every route`, () => {
    // What one route costs: the stack with and without it.
    const dropped = routes.at(-1)!;
    const without = resourcesOf({ ...allFeatures, routes: routes.filter((r) => r !== dropped) });
    const added = Object.keys(full).filter((id) => !(id in without));
    expect(Object.keys(without).filter((id) => !(id in full))).toEqual([]);
    expect(added.map((id) => full[id]!.Type).sort()).toEqual([
      'AWS::ApiGatewayV2::Integration',
      'AWS::ApiGatewayV2::Route',
      'AWS::Lambda::Function',
      'AWS::Lambda::Permission',
    ]);
    expect(added.length).toBeLessThanOrEqual(MAX_RESOURCES_PER_ROUTE);
    // And every route costs that: the whole table is its length times one route's cost.
    const noRoutes = Object.keys(resourcesOf({ ...allFeatures, routes: [] })).length;
    expect(fullCount - noRoutes).toBe(routes.length * added.length);
  });
});
