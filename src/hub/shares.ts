/**
 * Expiring shares at the hub (src/api/share.ts): creating them, checking a token at the upgrade, and telling the
 * gateway when a live share session must end. A share session is a `reach` session limited to its one service.
 */
import { randomBytes } from 'node:crypto';
import type { ApiKeyRecord, ShareRecord, Store } from './store/index.js';
import { hashKey, keyIsLive, sameHash } from './api-keys.js';
import { parseShareToken, type ShareView } from '../api/share.js';
import type { AgentSession } from './registry.js';

/** How often the hub re-checks live share sessions: a revoked or expired share ends its streams within this. */
export const SHARE_CHECK_MS = 1000;

export function generateShare(): { id: string; secret: string; hash: string } {
  const secret = randomBytes(32).toString('base64url');
  return { id: `shr_${randomBytes(8).toString('hex')}`, secret, hash: hashKey(secret) };
}

export function shareState(share: ShareRecord, at = Date.now()): ShareView['state'] {
  if (share.revokedAt) return 'revoked';
  return Date.parse(share.expiresAt) > at ? 'active' : 'expired';
}

export function shareView(share: ShareRecord): ShareView {
  return {
    id: share.id,
    service: share.serviceName,
    to: share.to,
    createdAt: share.createdAt,
    expiresAt: share.expiresAt,
    state: shareState(share),
  };
}

/** Why a share no longer works (one line), or undefined while it does. */
function endOf(share: ShareRecord, creator: ApiKeyRecord | undefined, at = Date.now()): string | undefined {
  const state = shareState(share, at);
  if (state === 'revoked') return `share ${share.id} was revoked`;
  if (state === 'expired') return `share ${share.id} expired at ${share.expiresAt}`;
  if (!creator || !keyIsLive(creator, at))
    return `share ${share.id} ended: the API key that created it was revoked or expired`;
  return undefined;
}

/** The share a presented token stands for, or the one line saying why it is refused. */
export async function verifyShareToken(
  store: Store,
  presented: string,
): Promise<{ share: ShareRecord } | { refusal: string }> {
  const parsed = parseShareToken(presented);
  const share = parsed && (await store.findShare(parsed.id));
  if (!parsed || !share || !sameHash(share.hash, hashKey(parsed.secret)))
    return { refusal: 'unknown or invalid share token' };
  const why = endOf(share, await store.findApiKey(share.createdByKey));
  return why ? { refusal: why } : { share };
}

/** The session a share token opens: reach of its one service, nothing else, labelled for the exposer's logs. */
export function shareSessionAuth(share: ShareRecord): Omit<AgentSession, 'mux' | 'id' | 'connectedAt'> {
  return {
    agentId: `share:${share.id}`,
    agentLabel: share.to ? `share ${share.id} (to ${share.to})` : `share ${share.id}`,
    workspaceId: share.workspaceId,
    // Its own bucket for the sessions-per-key limit; the key sweep leaves share sessions to closeEndedShares.
    apiKeyId: share.id,
    role: 'reach',
    services: [share.serviceName],
    kind: 'share',
    share: { id: share.id, expiresAt: share.expiresAt },
  };
}

/** Closes every live share session whose share expired, was revoked, or whose creating key is gone. */
export async function closeEndedShares(store: Store, sessions: AgentSession[]): Promise<string[]> {
  const closed: string[] = [];
  for (const session of sessions) {
    if (!session.share || session.mux.closed) continue;
    let why: string | undefined;
    if (Date.parse(session.share.expiresAt) <= Date.now()) {
      why = `share ${session.share.id} expired at ${session.share.expiresAt}`;
    } else {
      const share = await store.findShare(session.share.id);
      why = share
        ? endOf(share, await store.findApiKey(share.createdByKey))
        : `share ${session.share.id} was deleted`;
    }
    if (why) {
      session.mux.close(why);
      closed.push(why);
    }
  }
  return closed;
}
