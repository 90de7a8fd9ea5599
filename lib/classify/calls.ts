import {
  type JsonSchema,
  type ModelOutputResult,
  modelOutputSchema,
  validateModelOutput,
} from './model-output.ts';
import { type PromptScheme, repairKeyedPrompt, repairPrompt, systemPrompt } from './prompt.ts';
import { LIMITS } from './scheme-definition.ts';

/**
 * One provider call's share of a record's schemes. A call of one scheme asks for that scheme's
 * answer (`{values, justifications}`) as it always did; a call of several (`keys` set) asks for
 * one object holding each scheme's answer under its key.
 */
export type SchemeCall<S extends PromptScheme = PromptScheme> = {
  schemes: S[];
  /** Each scheme's key in the combined answer; absent for a call of one scheme. */
  keys?: string[];
};

/**
 * What OpenAI's strict structured outputs accept (the strictest of the providers here; Bedrock's
 * forced tool documents no such limits, and the same ones keep a job alike on either): object
 * properties in all, levels of object nesting, enum values in all, and characters of property
 * names plus enum values. A combined schema past any of them is split into more calls.
 */
export const STRUCTURED_OUTPUT_LIMITS = {
  properties: 5000,
  depth: 10,
  enumValues: 1000,
  characters: 120_000,
} as const;

/**
 * Fields one call carries at most: as many as one scheme may have, so a combined answer is no
 * longer than the largest single-scheme answer (the output, unlike the input, is not shared).
 */
export const MAX_FIELDS_PER_CALL = LIMITS.fields;

type Size = { properties: number; depth: number; enumValues: number; characters: number };

function measure(schema: JsonSchema): Size {
  const size: Size = { properties: 0, depth: 0, enumValues: 0, characters: 0 };
  const walk = (node: JsonSchema, depth: number) => {
    const level = node.type === 'object' ? depth + 1 : depth;
    size.depth = Math.max(size.depth, level);
    for (const value of node.enum ?? []) {
      size.enumValues++;
      size.characters += value.length;
    }
    for (const [name, sub] of Object.entries(node.properties ?? {})) {
      size.properties++;
      size.characters += name.length;
      walk(sub, level);
    }
    if (node.items) walk(node.items, level);
  };
  walk(schema, 0);
  return size;
}

/** True when a provider with strict structured outputs accepts `schema` ({@link STRUCTURED_OUTPUT_LIMITS}). */
export function withinLimits(schema: JsonSchema): boolean {
  const size = measure(schema);
  return (Object.keys(STRUCTURED_OUTPUT_LIMITS) as (keyof Size)[]).every(
    (k) => size[k] <= STRUCTURED_OUTPUT_LIMITS[k],
  );
}

/** A key a model reads easily and every provider accepts as a property name. */
const READABLE_KEY = /^[A-Za-z0-9][A-Za-z0-9 _-]{0,63}$/;

/**
 * The keys of a combined answer: the schemes' names when each is a plain, distinct (ignoring
 * case) key, else `scheme_1`, `scheme_2`, … for all of them (the prompt names each key's scheme).
 */
export function schemeKeys(names: readonly string[]): string[] {
  const trimmed = names.map((n) => n.trim());
  const folded = trimmed.map((n) => n.toLowerCase());
  const readable = trimmed.every((n, i) => READABLE_KEY.test(n) && folded.indexOf(folded[i]!) === i);
  return readable ? trimmed : trimmed.map((_, i) => `scheme_${i + 1}`);
}

function keyed<S extends PromptScheme>(schemes: S[]): SchemeCall<S> {
  return schemes.length === 1 ? { schemes } : { schemes, keys: schemeKeys(schemes.map((s) => s.name)) };
}

/**
 * The JSON Schema a call asks for: the scheme's own, or an object with each scheme's under its key.
 *
 * @example response_format.json_schema.schema = callSchema(call)
 */
export function callSchema(call: SchemeCall): JsonSchema {
  if (!call.keys) return modelOutputSchema(call.schemes[0]!.fields);
  const properties = Object.fromEntries(
    call.keys.map((k, i) => [k, modelOutputSchema(call.schemes[i]!.fields)]),
  );
  return { type: 'object', properties, required: [...call.keys], additionalProperties: false };
}

/** The system message of a call: instructions and schemes, never the record (see {@link systemPrompt}). */
export function callSystem(call: SchemeCall): string {
  return systemPrompt(call.schemes, call.keys);
}

/**
 * Splits a record's schemes into calls. With `combine`, as few calls as fit: schemes join a
 * call in their order while it stays within {@link MAX_FIELDS_PER_CALL} fields and its schema
 * within {@link STRUCTURED_OUTPUT_LIMITS}; without, one call per scheme.
 *
 * @example planCalls([topics, tone, entities], true) // [{ schemes: [topics, tone, entities], keys: [...] }]
 */
export function planCalls<S extends PromptScheme>(schemes: readonly S[], combine: boolean): SchemeCall<S>[] {
  if (!combine) return schemes.map((s) => ({ schemes: [s] }));
  const groups: S[][] = [];
  let current: S[] = [];
  for (const scheme of schemes) {
    const candidate = [...current, scheme];
    const fields = candidate.reduce((n, s) => n + s.fields.length, 0);
    if (current.length > 0 && (fields > MAX_FIELDS_PER_CALL || !withinLimits(callSchema(keyed(candidate))))) {
      groups.push(current);
      current = [scheme];
    } else current = candidate;
  }
  if (current.length > 0) groups.push(current);
  return groups.map(keyed);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

const quote = (s: string) => JSON.stringify(s);

/**
 * Validates an answer scheme by scheme: one result per scheme of the call, in its order. In a
 * combined answer a scheme's part is checked alone, so one scheme's mistake fails only that
 * scheme; keys that name no scheme are ignored.
 */
export function checkAnswer(call: SchemeCall, output: unknown): ModelOutputResult[] {
  const { keys } = call;
  if (!keys) return [validateModelOutput(call.schemes[0]!.fields, output)];
  if (!isRecord(output)) {
    const error = `The answer must be a JSON object with the keys ${keys.map(quote).join(', ')}.`;
    return keys.map(() => ({ ok: false, errors: [error], paths: ['(not a JSON object)'] }));
  }
  return keys.map((key, i) =>
    Object.hasOwn(output, key)
      ? validateModelOutput(call.schemes[i]!.fields, output[key])
      : {
          ok: false,
          errors: ['The answer for this scheme is missing.'],
          paths: ['(no answer for the scheme)'],
        },
  );
}

/**
 * The repair turn after {@link checkAnswer}: the call narrowed to the schemes that failed (the
 * same keys), and the user message saying what was wrong with each.
 */
export function repairCall<S extends PromptScheme>(
  call: SchemeCall<S>,
  results: readonly ModelOutputResult[],
): { call: SchemeCall<S>; prompt: string } {
  const failed = results.flatMap((r, i) => (r.ok ? [] : [{ i, errors: r.errors }]));
  if (!call.keys) return { call, prompt: repairPrompt(failed[0]?.errors ?? []) };
  const keys = call.keys;
  return {
    call: { schemes: failed.map((f) => call.schemes[f.i]!), keys: failed.map((f) => keys[f.i]!) },
    prompt: repairKeyedPrompt(failed.map((f) => ({ key: keys[f.i]!, errors: f.errors }))),
  };
}
