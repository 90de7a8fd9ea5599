/** A quote the model gave as evidence, and whether the record really contains it. */
export type VerifiedQuote = { quote: string; verified: boolean };

// Typographic variants a model (or the record's source) swaps freely; none changes the meaning.
const SINGLE_QUOTES = /[\u2018\u2019\u201A\u201B\u2032\u02BC\u0060\u00B4]/g;
const DOUBLE_QUOTES = /[\u201C\u201D\u201E\u201F\u2033\u00AB\u00BB]/g;
const DASHES = /[\u2010-\u2015\u2212\uFE58\uFE63]/g;
// Soft hyphens and zero-width characters are invisible in the source and never typed back.
const INVISIBLE = /[\u00AD\u200B-\u200D\u2060\uFEFF]/g;
// Models often wrap a quote in quotation marks of their own.
const WRAPPING_QUOTES = /^["']+|["']+$/g;

/**
 * The form in which quotes and record text are compared: Unicode NFKC, case-folded, quotes and
 * dashes unified, invisible characters dropped and whitespace collapsed.
 *
 * @example normalizeForEvidence('“Tax  Cuts” — now') // '"tax cuts" - now'
 */
export function normalizeForEvidence(text: string): string {
  return (
    text
      .normalize('NFKC')
      .replace(INVISIBLE, '')
      .replace(SINGLE_QUOTES, "'")
      .replace(DOUBLE_QUOTES, '"')
      .replace(DASHES, '-')
      // Upper then lower folds ß to ss like full case folding; the final sigma that lowercasing
      // produces at a word's end depends on context, so it is folded to σ.
      .toUpperCase()
      .toLowerCase()
      .replace(/ς/g, 'σ')
      .replace(/\s+/g, ' ')
      .trim()
  );
}

/**
 * Marks each quote verified when the record text contains it after both are normalised (see
 * {@link normalizeForEvidence}). An empty quote is never verified. Quotes that elide text with
 * "..." are deliberately not matched piecewise: the prompt asks for one contiguous span.
 *
 * @example verifyEvidence(['TAX cuts'], 'He promised tax  cuts.') // [{ quote: 'TAX cuts', verified: true }]
 */
export function verifyEvidence(quotes: readonly string[], text: string): VerifiedQuote[] {
  const haystack = normalizeForEvidence(text);
  return quotes.map((quote) => {
    const needle = normalizeForEvidence(quote).replace(WRAPPING_QUOTES, '').trim();
    return { quote, verified: needle.length > 0 && haystack.includes(needle) };
  });
}
