import { llm } from '#lib/classify/providers.ts';
import { httpHandler } from '#lib/http/handler.ts';
import { results } from '#lib/http/routes/results.ts';
import { getResult, listResults } from '#lib/services/results.ts';

export const list = httpHandler(results.list, async ({ db, user, params, query }) =>
  listResults(db, user, params.workspace_id, query),
);

export const read = httpHandler(results.read, async ({ db, user, params }) =>
  getResult(db, user, params.workspace_id, params.result_id),
);

export const providers = httpHandler(results.providers, async () => {
  const registry = llm();
  return {
    data: registry.list(),
    default_provider: registry.defaultProvider ?? null,
    default_model: registry.defaultModel ?? null,
  };
});
