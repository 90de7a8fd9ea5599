import type { ZxcvbnFactory } from '@zxcvbn-ts/core';

/** Shortest password accepted, in characters. */
export const PASSWORD_MIN_CHARS = 8;
/** Longest password accepted, in UTF-8 bytes: bcrypt ignores everything after the 72nd byte. */
export const PASSWORD_MAX_BYTES = 72;
/** Lowest zxcvbn score accepted (0-4): 2 is about 10^6 guesses, out of reach of a throttled login. */
export const PASSWORD_MIN_SCORE = 2;

/**
 * The checks that need no dictionary: length in characters and bytes, and not only whitespace.
 * Returns the reason a password is refused, or undefined. The request schemas run it, so a
 * short or blank password is a 422 before any other work.
 */
export function passwordShapeProblem(password: string): string | undefined {
  if ([...password].length < PASSWORD_MIN_CHARS) return `must be at least ${PASSWORD_MIN_CHARS} characters`;
  if (Buffer.byteLength(password, 'utf8') > PASSWORD_MAX_BYTES)
    return `must be at most ${PASSWORD_MAX_BYTES} bytes (UTF-8)`;
  if (password.trim() === '') return 'must not be only whitespace';
  return undefined;
}

// zxcvbn's warnings are translation keys; the language packs are not installed, so the few that
// explain a refusal are worded here.
const WARNINGS: Record<string, string> = {
  topTen: 'is one of the ten most common passwords',
  topHundred: 'is one of the hundred most common passwords',
  common: 'is a commonly used password',
  similarToCommon: 'is too similar to a commonly used password',
  userInputs: 'is too close to your email address',
  straightRow: 'is a row of keys on the keyboard',
  keyPattern: 'is a short keyboard pattern',
  simpleRepeat: 'repeats characters (like "aaa")',
  extendedRepeat: 'repeats a pattern (like "abcabc")',
  sequences: 'is a common sequence (like "abc" or "123")',
  recentYears: 'is or ends with a recent year',
  dates: 'is a date',
  wordByItself: 'is a single word',
  namesByThemselves: 'is a name',
  commonNames: 'is a common name',
};

// Built on first use only: the common-password dictionary is ~400 KB of JSON, which no other
// request path should parse (and bundles that never set a password drop it entirely).
let estimator: Promise<ZxcvbnFactory> | undefined;
function zxcvbn(): Promise<ZxcvbnFactory> {
  estimator ??= (async () => {
    const [{ ZxcvbnFactory }, common] = await Promise.all([
      import('@zxcvbn-ts/core'),
      import('@zxcvbn-ts/language-common'),
    ]);
    return new ZxcvbnFactory({ dictionary: { ...common.dictionary }, graphs: common.adjacencyGraphs });
  })();
  return estimator;
}

/**
 * Why a password is refused, or undefined when it is acceptable: the shape checks, then a
 * zxcvbn estimate against the common-password dictionary and the user's own email.
 *
 * @example await passwordProblem('password', 'ann@example.com') // 'is one of the ten most common passwords'
 */
export async function passwordProblem(password: string, email?: string): Promise<string | undefined> {
  const shape = passwordShapeProblem(password);
  if (shape) return shape;
  const inputs = email ? [email, ...email.split(/[^\p{L}\p{N}]+/u).filter((part) => part.length >= 3)] : [];
  const result = (await zxcvbn()).check(password, inputs);
  if (result.score >= PASSWORD_MIN_SCORE) return undefined;
  return (result.feedback.warning && WARNINGS[result.feedback.warning]) ?? 'is too easy to guess';
}
