import { type LlmProviders, providersFromEnv } from '#lib/ports/llm/index.ts';

let registry: LlmProviders | undefined;

/** The process's LLM providers, read from the environment on first use. */
export function llm(): LlmProviders {
  registry ??= providersFromEnv();
  return registry;
}
