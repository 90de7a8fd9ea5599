/**
 * Classification schemes: the one place a scheme's definition turns into the JSON Schema sent
 * to the model and the validator of its answer. The parts live in sibling files; import them
 * from here.
 */
import type { SchemeDefinition } from './scheme-definition.ts';

export {
  callSchema,
  callSystem,
  checkAnswer,
  MAX_FIELDS_PER_CALL,
  planCalls,
  repairCall,
  type SchemeCall,
  STRUCTURED_OUTPUT_LIMITS,
  schemeKeys,
  withinLimits,
} from './calls.ts';
export { normalizeForEvidence, type VerifiedQuote, verifyEvidence } from './evidence.ts';
export {
  type FieldValue,
  type JsonSchema,
  type Justification,
  type ModelOutput,
  type ModelOutputResult,
  modelOutputSchema,
  validateModelOutput,
} from './model-output.ts';
export {
  buildPrompt,
  describeFields,
  type PromptScheme,
  recordPrompt,
  repairKeyedPrompt,
  repairPrompt,
  systemPrompt,
} from './prompt.ts';
export {
  DICT_KEY_TYPES,
  DictKey,
  DictKeyType,
  FIELD_TYPES,
  FieldType,
  LIMITS,
  SchemeDefinition,
  SchemeField,
  SchemeUpdate,
} from './scheme-definition.ts';

/**
 * The three example schemes seeded into a new user's default workspace, after the reference
 * system's: free text, a set of labels with justification, and a list of structured items.
 * Fresh objects on every call, so a caller may change them.
 *
 * @example for (const scheme of defaultSchemes()) await schemes.create(workspaceId, scheme);
 */
export function defaultSchemes(): SchemeDefinition[] {
  return [
    {
      name: 'Summary',
      description: 'A short summary of what each record says.',
      model_instructions:
        'Write in the language of the record. State what the text says, not your opinion of it.',
      fields: [
        {
          name: 'summary',
          description: 'Two or three sentences: who does or says what, and why it matters.',
          type: 'str',
        },
      ],
    },
    {
      name: 'Political categories',
      description: 'The policy areas a record is about.',
      model_instructions:
        'Choose the policy areas the record is mainly about, most important first. ' +
        'Use "Other" only when no other category fits.',
      fields: [
        {
          name: 'categories',
          description: 'The policy areas the record is mainly about.',
          type: 'List[str]',
          is_set_of_labels: true,
          labels: [
            'Economy',
            'Health',
            'Environment',
            'Migration',
            'Security',
            'Education',
            'Social Policy',
            'Foreign Affairs',
            'Other',
          ],
          max_selections: 3,
          request_justification: true,
        },
      ],
    },
    {
      name: 'Entity statements',
      description: 'Who is said to have said or done what, and in what tone.',
      model_instructions:
        'List the people, parties, organisations and countries the record makes statements about, ' +
        'one item per statement.',
      fields: [
        {
          name: 'entity_statements',
          description:
            'One item per statement: "entity" is the name as written in the record, "statement" what is ' +
            'said by or about it in one sentence, "sentiment" the tone towards the entity as a whole ' +
            'number from -2 (very negative) through 0 (neutral) to 2 (very positive).',
          type: 'List[Dict[str, any]]',
          dict_keys: [
            { name: 'entity', type: 'str' },
            { name: 'statement', type: 'str' },
            { name: 'sentiment', type: 'int' },
          ],
        },
      ],
    },
  ];
}
