import { ValidationError } from '#lib/errors.ts';
import { type LlmProviders, providersFromEnv } from '#lib/ports/llm/index.ts';

let registry: LlmProviders | undefined;

/** The process's LLM providers, read from the environment on first use. */
export function llm(): LlmProviders {
  registry ??= providersFromEnv();
  return registry;
}

/**
 * The provider and model a job will use: the ones asked for, or the server's defaults. Only
 * models an operator configured (in AWS the workers may call those and no others); anything
 * else is a 422 on `<path>.provider` or `<path>.model`.
 *
 * @example chooseModel(llm(), body.provider, body.model) // { provider: 'openai', model: 'gpt-4o-mini' }
 */
export function chooseModel(
  providers: LlmProviders,
  provider: string | undefined,
  model: string | undefined,
  path = '',
): { provider: string; model: string } {
  const chosen = provider ?? providers.defaultProvider;
  if (!chosen || !providers.providers.has(chosen)) {
    const message = chosen
      ? `No provider "${chosen}" is configured`
      : 'No LLM provider is configured on this server';
    throw new ValidationError([{ location: 'body', path: `${path}provider`, message }]);
  }
  const offered = providers.list().find((p) => p.name === chosen)?.models ?? [];
  const chosenModel = model ?? (chosen === providers.defaultProvider ? providers.defaultModel : offered[0]);
  if (!chosenModel || !offered.includes(chosenModel)) {
    const message = `Choose one of the models of ${chosen}: ${offered.join(', ') || 'none configured'}`;
    throw new ValidationError([{ location: 'body', path: `${path}model`, message }]);
  }
  return { provider: chosen, model: chosenModel };
}
