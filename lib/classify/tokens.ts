import type { Tiktoken } from 'js-tiktoken/lite';

/** How an estimate counted tokens: OpenAI's own tokenizer, or about four characters a token. */
export type TokenCounter = { method: 'o200k_base' | 'chars/4'; count: (text: string) => number };

/** Models whose tokenizer is o200k_base (GPT-4o and later OpenAI models). */
const O200K_MODELS = /^(gpt-4o|gpt-4\.1|gpt-4\.5|gpt-5|o[1-9]|chatgpt-4o)/;

let o200k: Promise<Tiktoken | undefined> | undefined;

async function loadO200k(): Promise<Tiktoken | undefined> {
  try {
    // The encoding's ranks are 2.3 MB: a chunk of their own in the bundle (infra/bundling.ts),
    // read from disk by the first dry run, never at a cold start.
    const [{ Tiktoken }, ranks] = await Promise.all([
      import('js-tiktoken/lite'),
      import('js-tiktoken/ranks/o200k_base'),
    ]);
    return new Tiktoken(ranks.default);
  } catch {
    // The chunk could not be loaded: the approximation is still an estimate, and says so.
    return undefined;
  }
}

/** About four characters a token: the usual rule of thumb for English text; no tokenizer needed. */
export function approximateTokens(text: string): number {
  return Math.ceil(text.length / 4);
}

/**
 * A token counter for a provider's model: o200k_base (js-tiktoken, loaded on first use) for
 * OpenAI's GPT-4o family and later, characters / 4 for every other model (Bedrock's, local ones).
 *
 * @example (await tokenCounter('openai', 'gpt-4o-mini')).count('Hello world') // 2
 */
export async function tokenCounter(provider: string, model: string): Promise<TokenCounter> {
  if (provider === 'openai' && O200K_MODELS.test(model)) {
    o200k ??= loadO200k();
    const encoder = await o200k;
    // Special-token text in a record is plain text to count, not a reason to throw.
    if (encoder) return { method: 'o200k_base', count: (text) => encoder.encode(text, [], []).length };
  }
  return { method: 'chars/4', count: approximateTokens };
}
