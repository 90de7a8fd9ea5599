import { createCipheriv, createDecipheriv, createHash, hkdfSync, randomBytes } from 'node:crypto';

/**
 * A new share token: 32 bytes from the system's CSPRNG, base64url (43 characters, 256 bits),
 * safe in a URL path as it is.
 */
export function newShareToken(): string {
  return randomBytes(32).toString('base64url');
}

/** The SHA-256 (hex) a token is stored and looked up by. */
export function hashShareToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/** A key for sealing share tokens, derived from the signing key and used for nothing else. */
function sealingKey(secretKey: string): Buffer {
  return Buffer.from(hkdfSync('sha256', secretKey, 'docsift', 'share-link-token/v1', 32));
}

/**
 * Seals a token (AES-256-GCM) so that the owner can read its link again while the database
 * alone reveals nothing: `iv.ciphertext.tag`, each base64url.
 */
export function sealShareToken(token: string, secretKey: string): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', sealingKey(secretKey), iv);
  const ciphertext = Buffer.concat([cipher.update(token, 'utf8'), cipher.final()]);
  return [iv, ciphertext, cipher.getAuthTag()].map((b) => b.toString('base64url')).join('.');
}

/**
 * The token a {@link sealShareToken} sealed, or undefined when the signing key changed since
 * (the link still works; only its URL can no longer be shown).
 */
export function openShareToken(sealed: string, secretKey: string): string | undefined {
  try {
    const [iv, ciphertext, tag] = sealed.split('.').map((p) => Buffer.from(p, 'base64url'));
    if (!iv || !ciphertext || !tag) return undefined;
    const decipher = createDecipheriv('aes-256-gcm', sealingKey(secretKey), iv);
    decipher.setAuthTag(tag);
    return Buffer.concat([decipher.update(ciphertext), decipher.final()]).toString('utf8');
  } catch {
    return undefined;
  }
}
