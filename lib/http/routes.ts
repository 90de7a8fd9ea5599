import type { Route } from './route.ts';
import { bundles } from './routes/bundles.ts';
import { datasets } from './routes/datasets.ts';
import { datasources } from './routes/datasources.ts';
import { jobs } from './routes/jobs.ts';
import { login } from './routes/login.ts';
import { records } from './routes/records.ts';
import { results } from './routes/results.ts';
import { schemes } from './routes/schemes.ts';
import { shared, shares } from './routes/shares.ts';
import { system } from './routes/system.ts';
import { tasks } from './routes/tasks.ts';
import { usage } from './routes/usage.ts';
import { users } from './routes/users.ts';
import { webhooks } from './routes/webhooks.ts';
import { workspaces } from './routes/workspaces.ts';

// One module per API area under routes/; this module composes them into the one table that the
// local runtime, the CDK app and the OpenAPI document read, and re-exports every area object.
export {
  bundles,
  datasets,
  datasources,
  jobs,
  login,
  records,
  results,
  schemes,
  shared,
  shares,
  system,
  tasks,
  usage,
  users,
  webhooks,
  workspaces,
};

/** Every HTTP route of docsift, in one table. */
export const routes: Route[] = [
  ...Object.values(login),
  ...Object.values(users),
  ...Object.values(workspaces),
  ...Object.values(datasources),
  ...Object.values(records),
  ...Object.values(schemes),
  ...Object.values(jobs),
  ...Object.values(results),
  ...Object.values(datasets),
  ...Object.values(bundles),
  ...Object.values(tasks),
  ...Object.values(usage),
  ...Object.values(webhooks),
  ...Object.values(shares),
  ...Object.values(shared),
  ...Object.values(system),
] as Route[];
