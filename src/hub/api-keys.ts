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

/** True while a key may be used: not revoked and not past its expiry. */
export function keyIsLive(record: ApiKeyRecord, at = Date.now()): boolean {
  return !record.revokedAt && (record.expiresAt === null || Date.parse(record.expiresAt) > at);
}

/** Constant-time comparison of two hex sha256 digests. */
export function sameHash(expectedHex: string, actualHex: string): boolean {
  const expected = Buffer.from(expectedHex, 'hex');
  const actual = Buffer.from(actualHex, 'hex');
  return expected.length === actual.length && timingSafeEqual(expected, actual);
}

/** Returns the key's record when it is well formed, known, live (not revoked, not expired) and its hash matches. */
export async function verifyApiKey(store: Store, presented: string): Promise<ApiKeyRecord | undefined> {
  const match = KEY_PATTERN.exec(presented);
  if (!match?.[1]) return undefined;
  const record = await store.findApiKey(match[1]);
  if (!record || !keyIsLive(record)) return undefined;
  return sameHash(record.hash, hashKey(presented)) ? record : undefined;
}

/**
 * An agent's secret, issued once at registration (`POST /v1/agents`) and required at every upgrade: the agent
 * id is public (GET /v1/services shows it), the secret is not. 256 random bits, stored as its sha256.
 */
const AGENT_SECRET_PATTERN = /^as_[A-Za-z0-9_-]{43}$/;

export function generateAgentSecret(): { secret: string; hash: string } {
  const secret = `as_${randomBytes(32).toString('base64url')}`;
  return { secret, hash: hashKey(secret) };
}

/** True when `presented` is the secret whose hash the agent holds (false for an agent without one). */
export function verifyAgentSecret(secretHash: string | null, presented: string): boolean {
  if (secretHash === null || !AGENT_SECRET_PATTERN.test(presented)) return false;
  return sameHash(secretHash, hashKey(presented));
}

/** True when a string has the shape of an API key (used to give a better error than "unauthorized"). */
export function looksLikeApiKey(value: string): boolean {
  return KEY_PATTERN.test(value);
}
