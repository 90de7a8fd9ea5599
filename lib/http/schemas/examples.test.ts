import { describe, expect, it } from 'vitest';
import * as z from 'zod';
import { FIELD_TYPES, SchemeDefinition } from '#lib/classify/scheme-definition.ts';
import { openApiDocument } from '../openapi.ts';
import {
  JobCreate,
  JobPublic,
  JobsPublic,
  ResultPublic,
  ResultsPublic,
  SchemePublic,
} from './classification.ts';
import { DatasourceCreate, DatasourcePublic, DatasourcesPublic } from './datasources.ts';

const exampleOf = (schema: z.ZodType) => z.globalRegistry.get(schema)?.example;

describe('the API document’s examples', () => {
  it.each([
    ['DatasourceCreate', DatasourceCreate],
    ['DatasourcePublic', DatasourcePublic],
    ['DatasourcesPublic', DatasourcesPublic],
    ['SchemeDefinition', SchemeDefinition],
    ['SchemePublic', SchemePublic],
    ['JobCreate', JobCreate],
    ['JobPublic', JobPublic],
    ['JobsPublic', JobsPublic],
    ['ResultPublic', ResultPublic],
    ['ResultsPublic', ResultsPublic],
  ] as const)('%s: its example is valid, refinements included', (_, schema) => {
    const example = exampleOf(schema);
    expect(example).toBeDefined();
    expect(() => (schema as z.ZodType).parse(example)).not.toThrow();
  });

  it('names each datasource variant and gives it a valid example of its own type', () => {
    const schemas = (openApiDocument() as any).components.schemas;
    const variants: string[] = schemas.DatasourceCreate.oneOf.map((v: { $ref: string }) =>
      v.$ref.split('/').pop(),
    );
    expect(variants).toHaveLength(6);
    for (const name of variants) {
      const { example } = schemas[name];
      expect(example, name).toBeDefined();
      expect(DatasourceCreate.parse(example).type).toBe(schemas[name].properties.type.const);
    }
  });

  it('shows a scheme with a field of every type, a label set and a justification', () => {
    const fields = (exampleOf(SchemeDefinition) as { fields: Array<Record<string, unknown>> }).fields;
    expect(new Set(fields.map((f) => f.type))).toEqual(new Set(FIELD_TYPES));
    expect(fields.some((f) => f.is_set_of_labels && f.request_justification)).toBe(true);
  });
});
