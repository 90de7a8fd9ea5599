import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { EVENT_SCHEMAS, EVENT_TYPES, type EventType } from './types.ts';

// docs/events.md documents every detail type with an example that its schema accepts.
const doc = readFileSync(new URL('../../docs/events.md', import.meta.url), 'utf8');
const examples = new Map(
  [...doc.matchAll(/^### ([\w.]+)\n[\s\S]*?```json\n([\s\S]*?)```/gm)].map((m) => [m[1]!, m[2]!]),
);

describe('docs/events.md', () => {
  it('has one example per event type, and no other', () => {
    expect([...examples.keys()].sort()).toEqual([...EVENT_TYPES].sort());
  });

  it.each(EVENT_TYPES)('%s: its example parses with its schema', (type: EventType) => {
    const parsed = EVENT_SCHEMAS[type].safeParse(JSON.parse(examples.get(type)!));
    expect(parsed.error?.issues ?? []).toEqual([]);
  });
});
