import { describe, expect, it } from 'vitest';
import { approximateTokens, tokenCounter } from './tokens.ts';

describe('tokenCounter', () => {
  it('counts with o200k_base for OpenAI’s GPT-4o family, special-token text included', async () => {
    const counter = await tokenCounter('openai', 'gpt-4o-mini');
    expect(counter.method).toBe('o200k_base');
    expect(counter.count('Hello world')).toBe(2);
    expect(counter.count('a record that says <|endoftext|>')).toBeGreaterThan(5);
  });

  it('approximates four characters a token for other models and providers', async () => {
    expect((await tokenCounter('bedrock', 'amazon.nova-lite-v1:0')).method).toBe('chars/4');
    expect((await tokenCounter('openai', 'llama3.2')).method).toBe('chars/4');
    expect(approximateTokens('12345678')).toBe(2);
    expect(approximateTokens('123456789')).toBe(3);
  });
});
