import type { SchemeField } from './scheme-definition.ts';

export type FieldSummary =
  | { field: string; type: string; kind: 'labels'; counts: Record<string, number> }
  | {
      field: string;
      type: string;
      kind: 'numeric';
      count: number;
      min: number | null;
      max: number | null;
      mean: number | null;
      histogram: { from: number; to: number; count: number }[];
    }
  | { field: string; type: string; kind: 'boolean'; counts: { true: number; false: number } }
  | { field: string; type: string; kind: 'text'; count: number };

const BINS = 10;

function histogram(values: number[], lo: number, hi: number) {
  if (values.length === 0) return [];
  const width = hi > lo ? (hi - lo) / BINS : 1;
  const bins = Array.from({ length: hi > lo ? BINS : 1 }, (_, i) => ({
    from: lo + i * width,
    to: lo + (i + 1) * width,
    count: 0,
  }));
  for (const v of values) {
    const i = Math.min(bins.length - 1, Math.max(0, Math.floor((v - lo) / width)));
    bins[i]!.count++;
  }
  return bins;
}

/**
 * Sums up the values of one scheme's results, field by field: label counts for label sets,
 * min/max/mean and a ten-bin histogram (over the scale when it has one) for numbers.
 */
export function summarize(fields: SchemeField[], values: Record<string, unknown>[]): FieldSummary[] {
  return fields.map((f): FieldSummary => {
    const present = values.map((v) => v[f.name]).filter((v) => v !== undefined && v !== null);
    if (f.labels && f.labels.length > 0) {
      const counts: Record<string, number> = Object.fromEntries(f.labels.map((l) => [l, 0]));
      for (const v of present)
        for (const label of Array.isArray(v) ? v : [v])
          counts[String(label)] = (counts[String(label)] ?? 0) + 1;
      return { field: f.name, type: f.type, kind: 'labels', counts };
    }
    if (f.type === 'int' || f.type === 'float') {
      const nums = present.filter((v): v is number => typeof v === 'number');
      const min = nums.length ? Math.min(...nums) : null;
      const max = nums.length ? Math.max(...nums) : null;
      const mean = nums.length ? nums.reduce((a, b) => a + b, 0) / nums.length : null;
      const lo = f.scale_min ?? min ?? 0;
      const hi = f.scale_max ?? max ?? 0;
      return {
        field: f.name,
        type: f.type,
        kind: 'numeric',
        count: nums.length,
        min,
        max,
        mean,
        histogram: histogram(nums, lo, hi),
      };
    }
    if (f.type === 'bool') {
      return {
        field: f.name,
        type: f.type,
        kind: 'boolean',
        counts: {
          true: present.filter((v) => v === true).length,
          false: present.filter((v) => v === false).length,
        },
      };
    }
    return { field: f.name, type: f.type, kind: 'text', count: present.length };
  });
}
