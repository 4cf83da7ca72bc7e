import type { ServiceProtocol } from '../../api/service-protocol.js';
import type { ServiceName } from '../../api/service-name.js';
import type { KeyRole } from '../../api/key-role.js';

/**
 * The hub's persistent state, independent of the database behind it. Both implementations (SQLite for the
 * embedded default, PostgreSQL for deployments that outgrow one hub) fill this interface; nothing here leaks
 * a dialect (no rowids, no SQLite integers as booleans, dates are ISO strings).
 */
export interface WorkspaceRecord {
  id: string;
  name: string;
  createdAt: string;
}

export interface ApiKeyRecord {
  /** Public part of the key, also its lookup id: `tok_<id>_<secret>`. */
  id: string;
  workspaceId: string;
  /** sha256 of the whole key, hex. Keys are 256-bit random, so a fast hash is enough (no dictionary to attack). */
  hash: string;
  label: string | null;
  createdAt: string;
  revokedAt: string | null;
  /** What the key may do (src/api/key-role.ts). */
  role: KeyRole;
  /** The only services a `reach` key may reach; null: every service of its workspace. */
  services: ServiceName[] | null;
  /** When the key stops working (ISO); null: never. An expired key is refused like a revoked one. */
  expiresAt: string | null;
}

export interface AgentRecord {
  id: string;
  workspaceId: string;
  label: string;
  name: string | null;
  createdAt: string;
  lastSeenAt: string | null;
  /** sha256 of the secret issued at registration, hex; null for an agent registered before secrets existed. */
  secretHash: string | null;
  /** The API key that registered the agent: only it (or an admin key) may act for the agent. */
  createdByKey: string | null;
}

export interface ServiceRecord {
  id: string;
  workspaceId: string;
  agentId: string;
  name: ServiceName;
  targetHost: string;
  targetPort: number;
  tunnelPort: number;
  protocol: ServiceProtocol;
  createdAt: string;
  updatedAt: string;
}

/** A key as `keys create` inserts it: the store stamps the date. */
export type NewApiKeyRecord = Omit<
  ApiKeyRecord,
  'createdAt' | 'revokedAt' | 'role' | 'services' | 'expiresAt'
> &
  Partial<Pick<ApiKeyRecord, 'role' | 'services' | 'expiresAt'>>;

/** An agent as registration inserts it. */
export type NewAgentRecord = Omit<AgentRecord, 'createdAt' | 'lastSeenAt' | 'secretHash' | 'createdByKey'> &
  Partial<Pick<AgentRecord, 'secretHash' | 'createdByKey'>>;

/** A service as the hub inserts it: the store stamps the dates. */
export type NewService = Omit<ServiceRecord, 'createdAt' | 'updatedAt'>;

/** Where a reach came from: an agent's OPEN (`reach`), the local proxy's OPEN (`proxy`), a tunnel-port connection. */
export type AuditSource = 'reach' | 'tunnel-port' | 'proxy';

/** How a reach ended: both sides finished (`fin`), one reset it (`reset`, with the code), or it never opened. */
export type AuditEnd = 'fin' | 'reset' | 'refused';

/** One reach of a service, written by the hub when the stream ended (or was refused). */
export interface AuditRecord {
  id: string;
  workspaceId: string;
  /** The service asked for (as asked, when no service can have that name: quoted at most 64 characters). */
  service: string;
  source: AuditSource;
  /** The reaching agent and the key its session authenticated with; null for a tunnel-port connection. */
  agentId: string | null;
  agentLabel: string | null;
  keyId: string | null;
  /** The peer address of a tunnel-port connection; null for an OPEN (the agent is the identity). */
  remote: string | null;
  startedAt: string;
  endedAt: string;
  durationMs: number;
  /** Payload bytes toward the service and back from it. */
  bytesToService: number;
  bytesFromService: number;
  end: AuditEnd;
  /** The reset code's name (CANCEL, REFUSED, OFFLINE, …) and the reason given, when it did not end with FINs. */
  code: string | null;
  reason: string | null;
}

/** An expiring share (src/api/share.ts): reach of one service with a token, until expiry or revoke. */
export interface ShareRecord {
  id: string;
  workspaceId: string;
  serviceName: ServiceName;
  /** The API key that created the share: revoking that key ends the share too. */
  createdByKey: string;
  to: string | null;
  /** sha256 of the share's secret, hex. */
  hash: string;
  createdAt: string;
  expiresAt: string;
  revokedAt: string | null;
}

export type NewShareRecord = Omit<ShareRecord, 'createdAt' | 'revokedAt'>;

export interface Store {
  /** Applies pending migrations; safe to call on every start. */
  migrate(): Promise<void>;
  /** True when the database answers a trivial query. */
  ping(): Promise<boolean>;
  close(): Promise<void>;

  ensureWorkspace(name: string): Promise<WorkspaceRecord>;
  getWorkspace(id: string): Promise<WorkspaceRecord | undefined>;

  createApiKey(key: NewApiKeyRecord): Promise<ApiKeyRecord>;
  findApiKey(id: string): Promise<ApiKeyRecord | undefined>;
  listApiKeys(): Promise<(ApiKeyRecord & { workspaceName: string })[]>;
  /** Returns false when no such key exists or it was already revoked. */
  revokeApiKey(id: string): Promise<boolean>;

  createAgent(agent: NewAgentRecord): Promise<AgentRecord>;
  findAgent(workspaceId: string, id: string): Promise<AgentRecord | undefined>;
  listAgents(workspaceId: string): Promise<AgentRecord[]>;
  updateAgent(
    workspaceId: string,
    id: string,
    change: { label?: string; name?: string | null },
  ): Promise<void>;
  touchAgent(id: string, at: string): Promise<void>;

  listServices(workspaceId: string): Promise<ServiceRecord[]>;
  listAllServices(): Promise<ServiceRecord[]>;
  findServiceByName(workspaceId: string, name: ServiceName): Promise<ServiceRecord | undefined>;
  insertService(service: NewService): Promise<ServiceRecord>;
  updateService(
    id: string,
    change: Partial<Pick<ServiceRecord, 'agentId' | 'targetHost' | 'targetPort' | 'protocol' | 'tunnelPort'>>,
  ): Promise<ServiceRecord>;
  deleteService(workspaceId: string, id: string): Promise<boolean>;
  /** The grantees of a service (src/hub/grants.ts), sorted; empty: no grants, every key may reach it. */
  listGrants(serviceId: string): Promise<string[]>;
  /** The grantees of every service of a workspace that has any, by service id. */
  listWorkspaceGrants(workspaceId: string): Promise<Map<string, string[]>>;
  /** Every grant of every service, as `workspaceId`, service `name`, `grantee` (the hub's cache is loaded from it). */
  listAllGrants(): Promise<{ workspaceId: string; name: ServiceName; grantee: string }[]>;
  /** Adds grantees (those already there are kept once). */
  addGrants(workspaceId: string, serviceId: string, grantees: string[]): Promise<void>;
  /** Removes these grantees, or every one when `grantees` is 'all'. */
  removeGrants(serviceId: string, grantees: string[] | 'all'): Promise<void>;
  /** Every tunnel port held by a service of any workspace: ports are a machine-wide resource. */
  usedTunnelPorts(): Promise<Set<number>>;

  /** Appends audit rows (one statement per call: the hub batches them). */
  insertAudit(rows: readonly AuditRecord[]): Promise<void>;
  /** A workspace's newest audit rows first, of one service when given. */
  listAudit(workspaceId: string, query: { service?: string; limit: number }): Promise<AuditRecord[]>;
  /** Deletes rows that ended before `endedBefore`, and all but the newest `keepRows`; returns how many went. */
  pruneAudit(keepRows: number, endedBefore: string): Promise<number>;
  createShare(share: NewShareRecord): Promise<ShareRecord>;
  findShare(id: string): Promise<ShareRecord | undefined>;
  listShares(workspaceId: string): Promise<ShareRecord[]>;
  /** Marks the share revoked; false when it is unknown in that workspace or already revoked. */
  revokeShare(workspaceId: string, id: string): Promise<boolean>;
}
