// A Lambda entry for test/infra/bundled-runtime.test.ts: its errors' stacks must name these lines.
function failDeep(): never {
  throw new Error('failed on purpose');
}

export const handler = async (): Promise<never> => {
  await Promise.resolve();
  return failDeep();
};
