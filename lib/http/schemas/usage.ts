import * as z from 'zod';
import { Id, Timestamp } from './common.ts';

/** A day (`2026-12-01`, UTC midnight) or a timestamp. */
const Instant = z
  .union([z.iso.date(), z.iso.datetime({ offset: true })])
  .transform((v) => new Date(v.length === 10 ? `${v}T00:00:00Z` : v));

export const UsageQuery = z
  .object({
    from: Instant.optional().meta({
      description: 'First day or instant counted (inclusive); default 30 days before `to`',
    }),
    to: Instant.optional().meta({ description: 'End (exclusive); default now' }),
  })
  .refine((q) => !q.from || !q.to || q.from < q.to, { message: 'from must be before to', path: ['from'] })
  .refine((q) => !q.from || !q.to || q.to.getTime() - q.from.getTime() <= 366 * 86_400_000, {
    message: 'At most 366 days at a time',
    path: ['to'],
  });

const Sums = {
  calls: z.number().int(),
  input_tokens: z.number().int(),
  cached_input_tokens: z.number().int(),
  output_tokens: z.number().int(),
  cost_usd: z
    .number()
    .nullable()
    .meta({ description: 'Null when a model of the group has no configured price' }),
};

const USAGE_EXAMPLE = {
  workspace_id: '01938a6e-1c2d-7a00-8a11-000000000001',
  from: '2026-11-02T00:00:00.000Z',
  to: '2026-12-02T00:00:00.000Z',
  data: [
    {
      day: '2026-12-01',
      provider: 'openai',
      model: 'gpt-4o-mini',
      calls: 121,
      input_tokens: 96_800,
      cached_input_tokens: 41_200,
      output_tokens: 14_520,
      cost_usd: 0.0209,
    },
  ],
  total: {
    calls: 121,
    input_tokens: 96_800,
    cached_input_tokens: 41_200,
    output_tokens: 14_520,
    cost_usd: 0.0209,
  },
};

export const WorkspaceUsage = z
  .object({
    workspace_id: Id,
    from: Timestamp,
    to: Timestamp,
    data: z.array(
      z.object({
        day: z.iso.date().meta({ description: 'UTC day' }),
        provider: z.string(),
        model: z.string(),
        ...Sums,
      }),
    ),
    total: z.object(Sums),
  })
  .meta({ id: 'WorkspaceUsage', example: USAGE_EXAMPLE });
