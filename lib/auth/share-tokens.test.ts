import { describe, expect, it } from 'vitest';
import { hashShareToken, newShareToken, openShareToken, sealShareToken } from './share-tokens.ts';

describe('share tokens', () => {
  it('are 256 random bits in base64url, each one new', () => {
    const tokens = new Set(Array.from({ length: 100 }, newShareToken));
    expect(tokens.size).toBe(100);
    for (const t of tokens) expect(t).toMatch(/^[A-Za-z0-9_-]{43}$/);
  });

  it('seal and open under the same key only', () => {
    const token = newShareToken();
    const sealed = sealShareToken(token, 'k'.repeat(40));
    expect(sealed).not.toContain(token);
    expect(openShareToken(sealed, 'k'.repeat(40))).toBe(token);
    expect(openShareToken(sealed, 'j'.repeat(40))).toBeUndefined();
    expect(openShareToken('garbage', 'k'.repeat(40))).toBeUndefined();
  });

  it('hash to a stable SHA-256', () => {
    expect(hashShareToken('abc')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  });
});
