import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { ApiKeyRecord, Store } from './store/index.js';

/**
 * API keys look like `tok_<id>_<secret>`: the id is public and finds the row, the whole key is hashed
 * (sha256) and compared in constant time. Keys carry 256 bits of randomness, so a slow password hash would
 * add latency to every request without adding safety.
 */
const KEY_PATTERN = /^tok_([a-f0-9]{16})_([A-Za-z0-9_-]{43})$/;

export interface NewApiKey {
  id: string;
  key: string;
  hash: string;
}

export function hashKey(key: string): string {
  return createHash('sha256').update(key).digest('hex');
}

export function generateApiKey(): NewApiKey {
  const id = randomBytes(8).toString('hex');
  const key = `tok_${id}_${randomBytes(32).toString('base64url')}`;
  return { id, key, hash: hashKey(key) };
}

/** Returns the key's record when it is well formed, known, not revoked and its hash matches. */
export async function verifyApiKey(store: Store, presented: string): Promise<ApiKeyRecord | undefined> {
  const match = KEY_PATTERN.exec(presented);
  if (!match?.[1]) return undefined;
  const record = await store.findApiKey(match[1]);
  if (!record || record.revokedAt) return undefined;
  const expected = Buffer.from(record.hash, 'hex');
  const actual = Buffer.from(hashKey(presented), 'hex');
  return expected.length === actual.length && timingSafeEqual(expected, actual) ? record : undefined;
}

/** True when a string has the shape of an API key (used to give a better error than "unauthorized"). */
export function looksLikeApiKey(value: string): boolean {
  return KEY_PATTERN.test(value);
}
