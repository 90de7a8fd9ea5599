import * as z from 'zod';
import type { DictKeyType, SchemeField } from './scheme-definition.ts';

/**
 * The JSON Schema subset this module emits: what OpenAI structured outputs accept with
 * `strict: true` (every object closed and listing every property as required).
 */
export type JsonSchema = {
  type: 'object' | 'array' | 'string' | 'integer' | 'number' | 'boolean';
  description?: string;
  properties?: Record<string, JsonSchema>;
  required?: string[];
  additionalProperties?: false;
  items?: JsonSchema;
  enum?: string[];
  minimum?: number;
  maximum?: number;
  maxItems?: number;
};

/** The value of one field in a validated answer. */
export type FieldValue =
  | number
  | boolean
  | string
  | string[]
  | Array<Record<string, string | number | boolean>>;
/** Why the model chose a field's value, with quotes from the record meant to be verbatim. */
export type Justification = { reasoning: string; evidence: string[] };
/** A validated answer: a value for every field, a justification for those that ask for one. */
export type ModelOutput = {
  values: Record<string, FieldValue>;
  justifications: Record<string, Justification>;
};
export type ModelOutputResult =
  | { ok: true; value: ModelOutput }
  /** `errors` quote the answer (for the repair prompt); `paths` name where it failed, nothing more. */
  | { ok: false; errors: string[]; paths: string[] };

/** More errors than this only make the repair prompt longer; the model fixes the first ones first. */
const MAX_ERRORS = 20;

const quote = (s: string) => JSON.stringify(s);
const fold = (s: string) => s.trim().toLowerCase();

/**
 * A closed object whose unknown-key error names the keys that are allowed, so the model can
 * repair a misspelt key without guessing.
 */
function closedObject<T extends z.ZodRawShape>(shape: T, allowed: string) {
  return z.strictObject(shape, {
    error: (iss) =>
      iss.code === 'unrecognized_keys'
        ? `has unknown ${iss.keys.length > 1 ? 'keys' : 'key'} ${iss.keys.map(quote).join(', ')}; ${allowed}`
        : undefined,
  });
}

function closedJson(properties: Record<string, JsonSchema>): JsonSchema {
  return {
    type: 'object',
    properties,
    required: Object.keys(properties),
    additionalProperties: false,
  };
}

function numberSpec(field: SchemeField) {
  const { scale_min: min, scale_max: max } = field;
  const integer = field.type === 'int';
  const json: JsonSchema = {
    type: integer ? 'integer' : 'number',
    ...(min !== undefined && { minimum: min }),
    ...(max !== undefined && { maximum: max }),
  };
  const range =
    min === undefined
      ? `at most ${max}`
      : max === undefined
        ? `at least ${min}`
        : `between ${min} and ${max}`;
  const zod = (integer ? integerSchema() : z.number()).superRefine((n, ctx) => {
    if ((min !== undefined && n < min) || (max !== undefined && n > max)) {
      ctx.addIssue({ code: 'custom', message: `must be ${range} (got ${n})` });
    }
  });
  return { json, zod };
}

/** A label, matched ignoring case and surrounding spaces, and returned as the scheme spells it. */
function labelSchema(labels: readonly string[]) {
  const canonical = new Map(labels.map((l) => [fold(l), l]));
  const choices = labels.map(quote).join(', ');
  return z.string().transform((s, ctx) => {
    const label = canonical.get(fold(s));
    if (label !== undefined) return label;
    ctx.addIssue({ code: 'custom', message: `must be one of the labels ${choices} (got ${quote(s)})` });
    return z.NEVER;
  });
}

function labelListSchema(labels: readonly string[], maxSelections: number | undefined) {
  return z.array(labelSchema(labels)).superRefine((chosen, ctx) => {
    const seen = new Set<string>();
    for (const label of chosen) {
      if (seen.has(label)) ctx.addIssue({ code: 'custom', message: `lists ${quote(label)} more than once` });
      seen.add(label);
    }
    if (maxSelections !== undefined && chosen.length > maxSelections) {
      ctx.addIssue({
        code: 'custom',
        message: `has ${chosen.length} labels; choose at most ${maxSelections}`,
      });
    }
  });
}

/** A whole number; a string such as "3" is reported as not an integer rather than not a number. */
function integerSchema() {
  return z
    .number({
      error: (iss) =>
        iss.code === 'invalid_type' && iss.input !== undefined
          ? `must be an integer (got ${describe(iss.input)})`
          : undefined,
    })
    .int();
}

const DICT_KEY_SPECS = {
  str: { json: { type: 'string' }, zod: () => z.string() },
  int: { json: { type: 'integer' }, zod: integerSchema },
  float: { json: { type: 'number' }, zod: () => z.number() },
  bool: { json: { type: 'boolean' }, zod: () => z.boolean() },
} satisfies Record<DictKeyType, { json: JsonSchema; zod: () => z.ZodType }>;

/**
 * The one place a field's definition becomes both its JSON Schema and its validator, so the
 * two cannot drift apart. The validator is authoritative: some models ignore `minimum`,
 * `maximum` and `maxItems` even in strict mode.
 */
function fieldSpec(field: SchemeField): { json: JsonSchema; zod: z.ZodType } {
  const labels = field.is_set_of_labels ? field.labels : undefined;
  switch (field.type) {
    case 'int':
    case 'float':
      return numberSpec(field);
    case 'bool':
      return { json: { type: 'boolean' }, zod: z.boolean() };
    case 'str':
      return labels
        ? { json: { type: 'string', enum: [...labels] }, zod: labelSchema(labels) }
        : { json: { type: 'string' }, zod: z.string() };
    case 'List[str]':
      if (!labels) return { json: { type: 'array', items: { type: 'string' } }, zod: z.array(z.string()) };
      return {
        json: {
          type: 'array',
          items: { type: 'string', enum: [...labels] },
          ...(field.max_selections !== undefined && { maxItems: field.max_selections }),
        },
        zod: labelListSchema(labels, field.max_selections),
      };
    case 'List[Dict[str, any]]': {
      const keys = field.dict_keys ?? [];
      const names = keys.map((k) => quote(k.name)).join(', ');
      return {
        json: {
          type: 'array',
          items: closedJson(
            Object.fromEntries(keys.map((k) => [k.name, { ...DICT_KEY_SPECS[k.type].json }])),
          ),
        },
        zod: z.array(
          closedObject(
            Object.fromEntries(keys.map((k) => [k.name, DICT_KEY_SPECS[k.type].zod()])),
            `each item has exactly the keys ${names}`,
          ),
        ),
      };
    }
  }
}

// No descriptions in the schema: the system prompt says what each field and a justification
// are, and the model reads both, so the words would be paid for twice on every call.
const JUSTIFICATION_JSON: JsonSchema = closedJson({
  reasoning: { type: 'string' },
  evidence: { type: 'array', items: { type: 'string' } },
});
const Justification = closedObject(
  { reasoning: z.string(), evidence: z.array(z.string()) },
  'a justification has exactly "reasoning" and "evidence"',
);

const justified = (fields: readonly SchemeField[]) => fields.filter((f) => f.request_justification);

/**
 * The JSON Schema of the answer the model must give for these fields:
 * `{ values: {<field>: <value>}, justifications: {<field>: {reasoning, evidence}} }`, where
 * `justifications` covers only the fields with `request_justification` and is left out when
 * none has it. Field descriptions stay in the prompt (`describeFields`), not here: the model
 * reads both. Pass fields that passed {@link SchemeField} validation.
 *
 * @example response_format: { type: 'json_schema', json_schema: { name: 'classification', strict: true, schema: modelOutputSchema(fields) } }
 */
export function modelOutputSchema(fields: readonly SchemeField[]): JsonSchema {
  const values = closedJson(Object.fromEntries(fields.map((f) => [f.name, fieldSpec(f).json])));
  const withReasons = justified(fields);
  if (withReasons.length === 0) return closedJson({ values });
  return closedJson({
    values,
    justifications: closedJson(Object.fromEntries(withReasons.map((f) => [f.name, JUSTIFICATION_JSON]))),
  });
}

/**
 * Built once per fields array, since a bulk run validates thousands of answers against one
 * scheme; the array is treated as immutable.
 */
const validators = new WeakMap<readonly SchemeField[], z.ZodType<ModelOutput>>();

function outputValidator(fields: readonly SchemeField[]): z.ZodType<ModelOutput> {
  const cached = validators.get(fields);
  if (cached) return cached;
  const names = fields.map((f) => quote(f.name)).join(', ');
  const values = closedObject(
    Object.fromEntries(fields.map((f) => [f.name, fieldSpec(f).zod])),
    `the fields are ${names}`,
  );
  const withReasons = justified(fields);
  const reasonNames = withReasons.map((f) => quote(f.name)).join(', ');
  const schema = (
    withReasons.length === 0
      ? closedObject({ values }, 'only "values" is allowed')
      : closedObject(
          {
            values,
            justifications: closedObject(
              Object.fromEntries(withReasons.map((f) => [f.name, Justification])),
              `justify exactly the fields ${reasonNames}`,
            ),
          },
          'only "values" and "justifications" are allowed',
        )
  ).transform((answer) => ({
    values: answer.values as ModelOutput['values'],
    justifications: ('justifications' in answer
      ? answer.justifications
      : {}) as ModelOutput['justifications'],
  }));
  validators.set(fields, schema);
  return schema;
}

/**
 * Checks a model's parsed JSON answer against the fields. Errors are short sentences meant to
 * be sent back to the model in a repair attempt. Labels are matched ignoring case and returned
 * as the scheme spells them.
 *
 * @example const result = validateModelOutput(scheme.fields, JSON.parse(reply));
 */
export function validateModelOutput(fields: readonly SchemeField[], output: unknown): ModelOutputResult {
  if (!isRecord(output)) {
    return {
      ok: false,
      errors: [`The answer must be a JSON object with "values" (got ${describe(output)}).`],
      paths: ['(not a JSON object)'],
    };
  }
  const parsed = outputValidator(fields).safeParse(withoutPrototypes(output), { error: predicate });
  if (parsed.success) return { ok: true, value: parsed.data };
  const errors = parsed.error.issues.slice(0, MAX_ERRORS).map(sentence);
  const more = parsed.error.issues.length - MAX_ERRORS;
  if (more > 0)
    errors.push(`There ${more > 1 ? `are ${more} more problems` : 'is 1 more problem'} of the same kinds.`);
  const paths = [...new Set(parsed.error.issues.map((issue) => formatPath(issue.path)))];
  return { ok: false, errors, paths };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * A copy whose objects have no prototype: otherwise a missing field named `constructor` or
 * `toString` would read the inherited function and be reported as the wrong type.
 */
function withoutPrototypes(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutPrototypes);
  if (!isRecord(value)) return value;
  const copy: Record<string, unknown> = Object.create(null);
  for (const [key, item] of Object.entries(value)) {
    Object.defineProperty(copy, key, { value: withoutPrototypes(item), enumerable: true, writable: true });
  }
  return copy;
}

const EXPECTED: Record<string, string> = {
  int: 'an integer',
  number: 'a number',
  string: 'a string',
  boolean: 'true or false',
  array: 'a list',
  object: 'an object',
};

function describe(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'string') return value.length > 40 ? `${quote(value.slice(0, 40))}…` : quote(value);
  if (typeof value === 'object') return 'an object';
  return String(value);
}

/** `values.topics[1]`, `values["Key points"]`: a path as the model would write it in code. */
function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else if (/^[A-Za-z_][A-Za-z0-9_]*$/.test(String(part))) out += out ? `.${String(part)}` : String(part);
    else out += `[${quote(String(part))}]`;
  }
  return out || 'The answer';
}

/**
 * Messages for zod's own issues, phrased to follow the path (`values.score` + `is missing`).
 * Schemas that know better (closed objects, integers, labels) give their own first.
 */
function predicate(iss: z.core.$ZodRawIssue): string | undefined {
  if (iss.code === 'invalid_type') {
    if (iss.input === undefined) return 'is missing';
    return `must be ${EXPECTED[iss.expected] ?? iss.expected} (got ${describe(iss.input)})`;
  }
  if (iss.code === 'too_big' && iss.origin === 'int') return 'is too large for an integer';
  if (iss.code === 'unrecognized_keys') return `has unknown keys ${iss.keys.map(quote).join(', ')}`;
  return undefined;
}

const sentence = (issue: z.core.$ZodIssue) => `${formatPath(issue.path)} ${issue.message}.`;
