/*
 * LLM prices, in US dollars per million tokens (copy to .env.example as needed):
 *
 * # LLM_PRICES='{"openai":{"my-model":{"input":0.2,"cached_input":0.1,"output":0.8}}}'
 * #   Merged over the defaults below, per provider and model; `null` removes a default price.
 * #   A model without a price gets tokens and cost_usd null, never a guess.
 */
import * as z from 'zod';
import type { LlmUsage } from '#lib/ports/llm/provider.ts';

/** USD per million tokens. `cached_input` defaults to `input` (no cache discount known). */
export type Price = { input: number; cached_input?: number | undefined; output: number };
export type PriceTable = Record<string, Record<string, Price | null>>;

/** The date the default table was written down. Providers change prices: override with LLM_PRICES. */
export const DEFAULT_PRICES_AS_OF = '2026-12-02';

/**
 * List prices (standard tier, on-demand, us-east-1 for Bedrock) as published when written down;
 * check the providers' pricing pages before relying on a figure. Bedrock's prompt-cache writes
 * are counted as plain input (their surcharge is not modelled).
 */
export const DEFAULT_PRICES: PriceTable = {
  openai: {
    'gpt-4o-mini': { input: 0.15, cached_input: 0.075, output: 0.6 },
    'gpt-4o': { input: 2.5, cached_input: 1.25, output: 10 },
    'gpt-4.1-mini': { input: 0.4, cached_input: 0.1, output: 1.6 },
    'gpt-4.1': { input: 2, cached_input: 0.5, output: 8 },
  },
  bedrock: {
    'anthropic.claude-3-haiku-20240307-v1:0': { input: 0.25, output: 1.25 },
    'anthropic.claude-3-5-haiku-20241022-v1:0': { input: 0.8, cached_input: 0.08, output: 4 },
    'amazon.nova-micro-v1:0': { input: 0.035, cached_input: 0.00875, output: 0.14 },
    'amazon.nova-lite-v1:0': { input: 0.06, cached_input: 0.015, output: 0.24 },
  },
};

const PriceSchema = z
  .object({
    input: z.number().min(0),
    cached_input: z.number().min(0).optional(),
    output: z.number().min(0),
  })
  .strict();
const PriceTableSchema = z.record(z.string(), z.record(z.string(), PriceSchema.nullable()));

/** Thrown when LLM_PRICES is not a price table. */
export class PriceConfigError extends Error {
  override name = 'PriceConfigError';
}

/**
 * The defaults with `LLM_PRICES` (JSON, same shape) merged over them, model by model.
 *
 * @example pricesFromEnv({ LLM_PRICES: '{"openai":{"gpt-4o-mini":null}}' }).openai['gpt-4o-mini'] // null
 */
export function pricesFromEnv(env: Record<string, string | undefined> = process.env): PriceTable {
  const table: PriceTable = Object.fromEntries(
    Object.entries(DEFAULT_PRICES).map(([provider, models]) => [provider, { ...models }]),
  );
  const raw = env.LLM_PRICES?.trim();
  if (!raw) return table;
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch (cause) {
    throw new PriceConfigError('LLM_PRICES is not JSON', { cause });
  }
  const checked = PriceTableSchema.safeParse(parsed);
  if (!checked.success) {
    const lines = checked.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`);
    throw new PriceConfigError(`Invalid LLM_PRICES:\n${lines.join('\n')}`);
  }
  for (const [provider, models] of Object.entries(checked.data)) {
    table[provider] = { ...table[provider], ...models };
  }
  return table;
}

let prices: PriceTable | undefined;

/** The process's price table, read from the environment on first use. */
export function priceTable(): PriceTable {
  prices ??= pricesFromEnv();
  return prices;
}

/** The price of a provider's model, or undefined when none is configured. */
export function priceOf(table: PriceTable, provider: string, model: string): Price | undefined {
  return table[provider]?.[model] ?? undefined;
}

/**
 * What a call cost in USD, or null without a price. Cached input tokens are part of
 * `inputTokens` and billed at `cached_input`.
 *
 * @example costOf({ input: 0.15, cached_input: 0.075, output: 0.6 }, { inputTokens: 1e6, cachedInputTokens: 0, outputTokens: 0 }) // 0.15
 */
export function costOf(price: Price | undefined, usage: LlmUsage): number | null {
  if (!price) return null;
  const cached = Math.min(usage.cachedInputTokens, usage.inputTokens);
  const uncached = usage.inputTokens - cached;
  const micro =
    uncached * price.input + cached * (price.cached_input ?? price.input) + usage.outputTokens * price.output;
  return micro / 1_000_000;
}

/**
 * What the OpenAI Batch API and Bedrock batch inference bill: half the price of every token kind
 * (their documented discount for answers within 24 hours). LLM_PRICES sets the online price; the
 * batch price follows it.
 */
export const BATCH_DISCOUNT = 0.5;

/**
 * The price of a call made through a provider's batch API.
 *
 * @example batchPrice({ input: 0.15, cached_input: 0.075, output: 0.6 }) // { input: 0.075, cached_input: 0.0375, output: 0.3 }
 */
export function batchPrice(price: Price | undefined): Price | undefined {
  if (!price) return undefined;
  return {
    input: price.input * BATCH_DISCOUNT,
    cached_input: (price.cached_input ?? price.input) * BATCH_DISCOUNT,
    output: price.output * BATCH_DISCOUNT,
  };
}
