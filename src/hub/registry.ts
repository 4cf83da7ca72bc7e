import type { MuxSession } from '../protocol/session.js';
import type { ServiceName } from '../api/service-name.js';
import type { KeyRole } from '../api/key-role.js';

/** One connected process of an agent: `up`, `reach`, `proxy` and `dev` each hold their own session. */
export interface AgentSession {
  id: string;
  agentId: string;
  agentLabel: string;
  workspaceId: string;
  /** The API key the session authenticated with: revoking it ends the session. */
  apiKeyId: string;
  /** The key's role and service list at the upgrade: CONTROL ops and OPENs are checked against them. */
  role: KeyRole;
  services: ServiceName[] | null;
  kind: string;
  /** Set for a session opened with a share token (src/hub/shares.ts): it ends with the share. */
  share?: { id: string; expiresAt: string } | undefined;
  connectedAt: string;
  mux: MuxSession;
}

/** Names come parsed (lower-cased) already: the key is exact. */
const serviceKey = (workspaceId: string, name: ServiceName): string => `${workspaceId}/${name}`;

/**
 * The hub's live state (never persisted): which sessions are connected and which session serves each
 * service. A service's status is `online` exactly when a live session serves it.
 */
export class SessionRegistry {
  private readonly sessions = new Map<string, AgentSession>();
  private readonly servers = new Map<string, AgentSession>();

  add(session: AgentSession): void {
    this.sessions.set(session.id, session);
  }

  /** Removes a session and every service it served; returns the names that went offline. */
  remove(session: AgentSession): ServiceName[] {
    this.sessions.delete(session.id);
    const offline: ServiceName[] = [];
    for (const [key, server] of this.servers) {
      if (server.id === session.id) {
        this.servers.delete(key);
        offline.push(key.slice(key.indexOf('/') + 1) as ServiceName);
      }
    }
    return offline;
  }

  serve(session: AgentSession, name: ServiceName): void {
    this.servers.set(serviceKey(session.workspaceId, name), session);
  }

  unserve(workspaceId: string, name: ServiceName, sessionId?: string): void {
    const key = serviceKey(workspaceId, name);
    const current = this.servers.get(key);
    if (current && (sessionId === undefined || current.id === sessionId)) this.servers.delete(key);
  }

  serverOf(workspaceId: string, name: ServiceName): AgentSession | undefined {
    const session = this.servers.get(serviceKey(workspaceId, name));
    return session && !session.mux.closed ? session : undefined;
  }

  isAgentOnline(workspaceId: string, agentId: string): boolean {
    for (const s of this.sessions.values()) {
      if (s.agentId === agentId && s.workspaceId === workspaceId && !s.mux.closed) return true;
    }
    return false;
  }

  sessionsOf(workspaceId: string, agentId: string): AgentSession[] {
    return [...this.sessions.values()].filter((s) => s.agentId === agentId && s.workspaceId === workspaceId);
  }

  /** Live sessions opened with this API key (the hub bounds them: limits.sessionsPerKey). */
  sessionsOfKey(apiKeyId: string): number {
    let n = 0;
    for (const s of this.sessions.values()) if (s.apiKeyId === apiKeyId && !s.mux.closed) n++;
    return n;
  }

  all(): AgentSession[] {
    return [...this.sessions.values()];
  }
}
