import * as z from 'zod';

/** The value types a field can have: the reference system's four, plus `float` and `bool`. */
export const FIELD_TYPES = ['int', 'float', 'bool', 'str', 'List[str]', 'List[Dict[str, any]]'] as const;
/** The value types a key of a `List[Dict[str, any]]` item can have. */
export const DICT_KEY_TYPES = ['str', 'int', 'float', 'bool'] as const;

/** Upper bounds that keep the JSON Schema within OpenAI's strict-mode limits (≤ 1000 enum values). */
export const LIMITS = {
  fields: 50,
  labelsPerField: 200,
  labelsPerScheme: 1000,
  labelLength: 100,
  dictKeys: 20,
  fieldDescription: 2000,
  schemeDescription: 5000,
  modelInstructions: 20_000,
} as const;

export const FieldType = z.enum(FIELD_TYPES).meta({ id: 'SchemeFieldType' });
export type FieldType = z.output<typeof FieldType>;

export const DictKeyType = z.enum(DICT_KEY_TYPES).meta({ id: 'SchemeDictKeyType' });
export type DictKeyType = z.output<typeof DictKeyType>;

/**
 * A name that becomes a key of the model's JSON answer. Surrounding spaces are trimmed first;
 * `__proto__` is refused because assigning it to a plain object would replace its prototype.
 */
const KeyName = z
  .string()
  .trim()
  .regex(
    /^[A-Za-z_][A-Za-z0-9_ -]{0,63}$/,
    'Start with a letter or _, then up to 63 letters, digits, spaces, _ or -',
  )
  .refine((name) => name !== '__proto__', 'This name is reserved');

const Label = z.string().trim().min(1, 'A label cannot be empty').max(LIMITS.labelLength);

export const DictKey = z.strictObject({ name: KeyName, type: DictKeyType }).meta({ id: 'SchemeDictKey' });
export type DictKey = z.output<typeof DictKey>;

const fold = (s: string) => s.toLowerCase();

/** Index of the first earlier item with the same folded value, for each item that repeats one. */
function duplicates(items: readonly string[]): Array<{ index: number; first: number }> {
  const seen = new Map<string, number>();
  const found: Array<{ index: number; first: number }> = [];
  items.forEach((item, index) => {
    const first = seen.get(fold(item));
    if (first === undefined) seen.set(fold(item), index);
    else found.push({ index, first });
  });
  return found;
}

type FieldInput = {
  type: FieldType;
  scale_min?: number | undefined;
  scale_max?: number | undefined;
  is_set_of_labels?: boolean | undefined;
  labels?: string[] | undefined;
  max_selections?: number | undefined;
  dict_keys?: DictKey[] | undefined;
};

/**
 * The rules that depend on the field's type. Each failure is an issue at the offending option,
 * and an option that does not apply to the type is an error rather than silently ignored, so a
 * client never believes a setting took effect when it did not.
 */
function checkTypeOptions(field: FieldInput, ctx: z.RefinementCtx): void {
  const issue = (path: PropertyKey[], message: string) => ctx.addIssue({ code: 'custom', path, message });
  const { type } = field;
  const numeric = type === 'int' || type === 'float';
  const labelled = type === 'str' || type === 'List[str]';
  const labelSet = labelled && field.is_set_of_labels === true;

  for (const key of ['scale_min', 'scale_max'] as const) {
    const bound = field[key];
    if (bound === undefined) continue;
    if (!numeric) issue([key], `Only int and float fields have a scale, not ${type}`);
    else if (type === 'int' && !Number.isInteger(bound))
      issue([key], 'The scale of an int field is whole numbers');
  }
  if (numeric && field.scale_min !== undefined && field.scale_max !== undefined) {
    if (!(field.scale_min < field.scale_max)) issue(['scale_max'], 'Must be greater than scale_min');
  }

  if (field.is_set_of_labels !== undefined && !labelled) {
    issue(['is_set_of_labels'], `Only str and List[str] fields can be a set of labels, not ${type}`);
  }
  if (field.labels !== undefined && !labelSet) {
    issue(
      ['labels'],
      labelled
        ? 'Labels need is_set_of_labels: true'
        : `Only str and List[str] fields have labels, not ${type}`,
    );
  }
  if (labelSet) {
    const labels = field.labels ?? [];
    for (const { index, first } of duplicates(labels)) {
      issue(['labels', index], `Same label as labels.${first} (labels are compared ignoring case)`);
    }
    if (new Set(labels.map(fold)).size < 2)
      issue(['labels'], 'A set of labels needs at least two distinct labels');
  }

  if (field.max_selections !== undefined) {
    if (!(type === 'List[str]' && labelSet)) {
      issue(['max_selections'], 'Only a List[str] field with a set of labels has max_selections');
    } else if (field.labels && field.max_selections > field.labels.length) {
      issue(['max_selections'], `At most the number of labels (${field.labels.length})`);
    }
  }

  if (type === 'List[Dict[str, any]]') {
    if (!field.dict_keys?.length) issue(['dict_keys'], 'A List[Dict[str, any]] field needs at least one key');
    for (const { index, first } of duplicates((field.dict_keys ?? []).map((k) => k.name))) {
      issue(
        ['dict_keys', index, 'name'],
        `Same name as dict_keys.${first} (names are compared ignoring case)`,
      );
    }
  } else if (field.dict_keys !== undefined) {
    issue(['dict_keys'], `Only List[Dict[str, any]] fields have dict_keys, not ${type}`);
  }
}

/**
 * One field of a scheme: its name is the key of its value in the model's answer.
 *
 * @example SchemeField.parse({ name: 'urgency', description: 'How urgent', type: 'int', scale_min: 1, scale_max: 5 })
 */
export const SchemeField = z
  .strictObject({
    name: KeyName,
    description: z.string().trim().max(LIMITS.fieldDescription),
    type: FieldType,
    scale_min: z.number().optional(),
    scale_max: z.number().optional(),
    is_set_of_labels: z.boolean().optional(),
    labels: z.array(Label).max(LIMITS.labelsPerField).optional(),
    max_selections: z.number().int().min(1).optional(),
    dict_keys: z.array(DictKey).max(LIMITS.dictKeys).optional(),
    request_justification: z
      .boolean()
      .optional()
      .meta({ description: 'Ask the model for its reasoning and verbatim evidence quotes' }),
    is_time_axis_hint: z.boolean().optional().meta({
      description: 'Kept for the reference system’s clients (a field to plot over time); not used here',
    }),
  })
  .superRefine(checkTypeOptions)
  .meta({ id: 'SchemeField' });
export type SchemeField = z.output<typeof SchemeField>;

/** Options the reference system's clients send on every field, null (or false, or []) when unused. */
const UNSET_WHEN_EMPTY = new Set([
  'scale_min',
  'scale_max',
  'is_set_of_labels',
  'labels',
  'max_selections',
  'dict_keys',
  'request_justification',
  'is_time_axis_hint',
]);

/**
 * A field as the reference system writes it, with its unused options left out: `null`,
 * `is_set_of_labels: false`, `labels: []` and `dict_keys: []` mean "not set" (false and [] say
 * no more than leaving the option out). Any other value stays, to be checked.
 *
 * @example withoutUnsetOptions({ name: 'n', type: 'int', labels: [], scale_min: null }) // { name: 'n', type: 'int' }
 */
export function withoutUnsetOptions(field: unknown): unknown {
  if (field === null || typeof field !== 'object' || Array.isArray(field)) return field;
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(field)) {
    const unset =
      UNSET_WHEN_EMPTY.has(key) &&
      (value === null ||
        (key === 'is_set_of_labels' && value === false) ||
        ((key === 'labels' || key === 'dict_keys') && Array.isArray(value) && value.length === 0));
    if (!unset) out[key] = value;
  }
  return out;
}

/** A field in a request: unused options may be null (see withoutUnsetOptions). */
const FieldInput = z.preprocess(withoutUnsetOptions, SchemeField);

/** The fields of a scheme: names unique ignoring case, since users tell fields apart by name. */
const Fields = z
  .array(FieldInput)
  .min(1)
  .max(LIMITS.fields)
  .superRefine((fields, ctx) => {
    for (const { index, first } of duplicates(fields.map((f) => f.name))) {
      ctx.addIssue({
        code: 'custom',
        path: [index, 'name'],
        message: `Same name as fields.${first} (names are compared ignoring case)`,
      });
    }
    const labels = fields.reduce((n, f) => n + (f.labels?.length ?? 0), 0);
    if (labels > LIMITS.labelsPerScheme) {
      ctx.addIssue({
        code: 'custom',
        message: `At most ${LIMITS.labelsPerScheme} labels across all fields (found ${labels})`,
      });
    }
  });

const SchemeName = z.string().trim().min(1).max(255);
const SchemeDescription = z.string().trim().max(LIMITS.schemeDescription);
const ModelInstructions = z.string().trim().max(LIMITS.modelInstructions);
/** Kept for the reference system's clients: stored and returned, not applied. */
const ValidationRules = z
  .record(z.string(), z.unknown())
  .nullable()
  .meta({ description: 'Kept for the reference system’s clients: stored and returned, not applied' });

/** A scheme with a field of each type (the API document's example; checked against the schema in tests). */
export const SCHEME_EXAMPLE = {
  name: 'Speech analysis',
  description: 'Topics, stance and tone of a parliamentary speech',
  model_instructions: 'Judge the speech only by its text, not by what you know about the speaker.',
  fields: [
    {
      name: 'topics',
      description: 'Policy areas the speech is about',
      type: 'List[str]',
      is_set_of_labels: true,
      labels: ['economy', 'taxes', 'health', 'environment', 'migration'],
      max_selections: 3,
      request_justification: true,
    },
    {
      name: 'stance',
      description: 'The speaker’s position on the bill under debate',
      type: 'str',
      is_set_of_labels: true,
      labels: ['for', 'against', 'neutral'],
    },
    { name: 'intensity', description: '1 calm … 5 heated', type: 'int', scale_min: 1, scale_max: 5 },
    {
      name: 'confidence',
      description: 'How sure you are of the stance',
      type: 'float',
      scale_min: 0,
      scale_max: 1,
    },
    { name: 'mentions_vote', description: 'Does the speech mention a vote?', type: 'bool' },
    { name: 'summary', description: 'One sentence', type: 'str' },
    { name: 'keywords', description: 'Up to five key terms', type: 'List[str]' },
    {
      name: 'named_people',
      description: 'People the speech names',
      type: 'List[Dict[str, any]]',
      dict_keys: [
        { name: 'name', type: 'str' },
        { name: 'role', type: 'str' },
        { name: 'quoted', type: 'bool' },
      ],
    },
  ],
} as const;

/** A classification scheme: what to ask the model about each record, field by field. */
export const SchemeDefinition = z
  .strictObject({
    name: SchemeName,
    description: SchemeDescription.default(''),
    model_instructions: ModelInstructions.nullish()
      .transform((v) => v ?? undefined)
      .meta({ description: 'Extra instructions for the model, added to the system prompt' }),
    validation_rules: ValidationRules.optional(),
    fields: Fields,
  })
  .meta({ id: 'SchemeDefinition', example: SCHEME_EXAMPLE });
export type SchemeDefinition = z.output<typeof SchemeDefinition>;

/**
 * A change to a scheme: every part optional (an empty `model_instructions` clears them). Which
 * changes are allowed (say, fields of a scheme with results) is the API's decision, not this one.
 */
export const SchemeUpdate = z
  .strictObject({
    name: SchemeName.optional(),
    description: SchemeDescription.optional(),
    // Null clears them, as an empty text does: the reference system's client sends the whole scheme.
    model_instructions: ModelInstructions.nullish(),
    validation_rules: ValidationRules.optional(),
    fields: Fields.optional(),
  })
  .meta({ id: 'SchemeUpdate' });
export type SchemeUpdate = z.output<typeof SchemeUpdate>;
