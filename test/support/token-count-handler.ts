import { tokenCounter } from '#lib/classify/tokens.ts';

// A Lambda entry for test/infra/bundled-runtime.test.ts: a dry run's token counter, bundled.
export const handler = async (): Promise<{ method: string; count: number }> => {
  const counter = await tokenCounter('openai', 'gpt-4o-mini');
  return { method: counter.method, count: counter.count('Hello world') };
};
