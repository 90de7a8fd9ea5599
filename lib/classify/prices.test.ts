import { describe, expect, it } from 'vitest';
import { batchPrice, costOf, DEFAULT_PRICES, PriceConfigError, priceOf, pricesFromEnv } from './prices.ts';

describe('prices', () => {
  it('are the dated defaults without LLM_PRICES', () => {
    expect(pricesFromEnv({})).toEqual(DEFAULT_PRICES);
    expect(priceOf(pricesFromEnv({}), 'openai', 'gpt-4o-mini')).toEqual({
      input: 0.15,
      cached_input: 0.075,
      output: 0.6,
    });
  });

  it('take LLM_PRICES over the defaults, model by model; null removes a price', () => {
    const table = pricesFromEnv({
      LLM_PRICES: JSON.stringify({
        openai: { 'gpt-4o-mini': null, 'my-model': { input: 1, output: 2 } },
        ollama: { 'llama3.2': { input: 0, output: 0 } },
      }),
    });
    expect(priceOf(table, 'openai', 'gpt-4o-mini')).toBeUndefined();
    expect(priceOf(table, 'openai', 'gpt-4o')).toEqual(DEFAULT_PRICES.openai!['gpt-4o']);
    expect(priceOf(table, 'openai', 'my-model')).toEqual({ input: 1, output: 2 });
    expect(priceOf(table, 'ollama', 'llama3.2')).toEqual({ input: 0, output: 0 });
  });

  it('refuse an LLM_PRICES that is not a price table, saying where', () => {
    expect(() => pricesFromEnv({ LLM_PRICES: '{oops' })).toThrow(PriceConfigError);
    expect(() => pricesFromEnv({ LLM_PRICES: '{"openai":{"m":{"input":-1,"output":1}}}' })).toThrow(
      /openai\.m\.input/,
    );
  });

  it('cost cached input at its own price, and nothing is made up without a price', () => {
    const usage = { inputTokens: 1_000_000, cachedInputTokens: 400_000, outputTokens: 100_000 };
    expect(costOf({ input: 2.5, cached_input: 1.25, output: 10 }, usage)).toBeCloseTo(
      0.6 * 2.5 + 0.4 * 1.25 + 1,
      12,
    );
    // Without a cached price, cached tokens cost what input does.
    expect(costOf({ input: 1, output: 0 }, usage)).toBeCloseTo(1, 12);
    expect(costOf(undefined, usage)).toBeNull();
  });

  it('halve every token kind for a batch, cached input falling back to input', () => {
    expect(batchPrice({ input: 0.15, cached_input: 0.075, output: 0.6 })).toEqual({
      input: 0.075,
      cached_input: 0.0375,
      output: 0.3,
    });
    expect(batchPrice({ input: 0.25, output: 1.25 })).toEqual({
      input: 0.125,
      cached_input: 0.125,
      output: 0.625,
    });
    expect(batchPrice(undefined)).toBeUndefined();
  });
});
