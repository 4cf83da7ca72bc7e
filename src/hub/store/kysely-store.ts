import { Migrator, sql, type Kysely, type Selectable } from 'kysely';
import type { Database } from './schema.js';
import { migrationProvider } from './migrations.js';
import type {
  AgentRecord,
  ApiKeyRecord,
  AuditEnd,
  AuditRecord,
  AuditSource,
  NewAgentRecord,
  NewApiKeyRecord,
  NewService,
  NewShareRecord,
  ServiceRecord,
  ShareRecord,
  Store,
  WorkspaceRecord,
} from './types.js';
import { ConnectError, ErrorCodes, messageOf } from '../../api/errors.js';
import { newId } from '../../util/ids.js';
import type { ServiceName } from '../../api/service-name.js';
import type { ServiceProtocol } from '../../api/service-protocol.js';
import { isKeyRole } from '../../api/key-role.js';

const now = (): string => new Date().toISOString();

function toService(row: Selectable<Database['services']>): ServiceRecord {
  return {
    id: row.id,
    workspaceId: row.workspace_id,
    agentId: row.agent_id,
    // Written only by insertService, which takes a parsed name: what the table holds is one already.
    name: row.name as ServiceName,
    targetHost: row.target_host,
    targetPort: Number(row.target_port),
    tunnelPort: Number(row.tunnel_port),
    protocol: row.protocol as ServiceProtocol,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

function toAgent(row: Selectable<Database['agents']>): AgentRecord {
  return {
    id: row.id,
    workspaceId: row.workspace_id,
    label: row.label,
    name: row.name,
    createdAt: row.created_at,
    lastSeenAt: row.last_seen_at,
    secretHash: row.secret_hash,
    createdByKey: row.created_by_key,
  };
}

function toKey(row: Selectable<Database['api_keys']>): ApiKeyRecord {
  return {
    id: row.id,
    workspaceId: row.workspace_id,
    hash: row.hash,
    label: row.label,
    createdAt: row.created_at,
    revokedAt: row.revoked_at,
    // An unknown role (a newer hub wrote it) grants the least: reach.
    role: isKeyRole(row.role) ? row.role : 'reach',
    // Written only by createApiKey from parsed names.
    services: row.services === null ? null : (row.services.split(',').filter(Boolean) as ServiceName[]),
    expiresAt: row.expires_at,
  };
}

function toAudit(row: Selectable<Database['audit']>): AuditRecord {
  return {
    id: row.id,
    workspaceId: row.workspace_id,
    service: row.service,
    // Written only by insertAudit from AuditRecords.
    source: row.source as AuditSource,
    agentId: row.agent_id,
    agentLabel: row.agent_label,
    keyId: row.key_id,
    remote: row.remote,
    startedAt: row.started_at,
    endedAt: row.ended_at,
    durationMs: Number(row.duration_ms),
    bytesToService: Number(row.bytes_to_service),
    bytesFromService: Number(row.bytes_from_service),
    end: row.end as AuditEnd,
    code: row.code,
    reason: row.reason,
  };
}

function toShare(row: Selectable<Database['shares']>): ShareRecord {
  return {
    id: row.id,
    workspaceId: row.workspace_id,
    // Written only by createShare from a parsed name.
    serviceName: row.service_name as ServiceName,
    createdByKey: row.created_by_key,
    to: row.to_label,
    hash: row.hash,
    createdAt: row.created_at,
    expiresAt: row.expires_at,
    revokedAt: row.revoked_at,
  };
}

/**
 * The one Store implementation: the same kysely queries run on SQLite and PostgreSQL, so the two
 * backends cannot drift apart. Dialect-specific setup lives in sqlite-store.ts and postgres-store.ts.
 */
export class KyselyStore implements Store {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly onClose: () => Promise<void> = () => Promise.resolve(),
  ) {}

  async migrate(): Promise<void> {
    const migrator = new Migrator({ db: this.db, provider: migrationProvider });
    const { error } = await migrator.migrateToLatest();
    if (error)
      throw new ConnectError(ErrorCodes.STORE_ERROR, `database migration failed: ${messageOf(error)}`);
  }

  async ping(): Promise<boolean> {
    try {
      await sql`select 1`.execute(this.db);
      return true;
    } catch {
      return false;
    }
  }

  async close(): Promise<void> {
    await this.db.destroy();
    await this.onClose();
  }

  async ensureWorkspace(name: string): Promise<WorkspaceRecord> {
    const existing = await this.db
      .selectFrom('workspaces')
      .selectAll()
      .where('name', '=', name)
      .executeTakeFirst();
    if (existing) return { id: existing.id, name: existing.name, createdAt: existing.created_at };
    const row = { id: newId('ws'), name, created_at: now() };
    // Two callers may race to create the same workspace; the unique constraint keeps one.
    await this.db
      .insertInto('workspaces')
      .values(row)
      .onConflict((oc) => oc.column('name').doNothing())
      .execute();
    const created = await this.db
      .selectFrom('workspaces')
      .selectAll()
      .where('name', '=', name)
      .executeTakeFirstOrThrow();
    return { id: created.id, name: created.name, createdAt: created.created_at };
  }

  async getWorkspace(id: string): Promise<WorkspaceRecord | undefined> {
    const row = await this.db.selectFrom('workspaces').selectAll().where('id', '=', id).executeTakeFirst();
    return row && { id: row.id, name: row.name, createdAt: row.created_at };
  }

  async createApiKey(key: NewApiKeyRecord): Promise<ApiKeyRecord> {
    const row = {
      id: key.id,
      workspace_id: key.workspaceId,
      hash: key.hash,
      label: key.label,
      created_at: now(),
      revoked_at: null,
      role: key.role ?? 'admin',
      services: key.services ? key.services.join(',') : null,
      expires_at: key.expiresAt ?? null,
    };
    await this.db.insertInto('api_keys').values(row).execute();
    return toKey(row);
  }

  async findApiKey(id: string): Promise<ApiKeyRecord | undefined> {
    const row = await this.db.selectFrom('api_keys').selectAll().where('id', '=', id).executeTakeFirst();
    return row && toKey(row);
  }

  async listApiKeys(): Promise<(ApiKeyRecord & { workspaceName: string })[]> {
    const rows = await this.db
      .selectFrom('api_keys')
      .innerJoin('workspaces', 'workspaces.id', 'api_keys.workspace_id')
      .selectAll('api_keys')
      .select('workspaces.name as workspace_name')
      .orderBy('api_keys.created_at')
      .execute();
    return rows.map((r) => ({ ...toKey(r), workspaceName: r.workspace_name }));
  }

  async revokeApiKey(id: string): Promise<boolean> {
    const result = await this.db
      .updateTable('api_keys')
      .set({ revoked_at: now() })
      .where('id', '=', id)
      .where('revoked_at', 'is', null)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) > 0;
  }

  async createAgent(agent: NewAgentRecord): Promise<AgentRecord> {
    const row = {
      id: agent.id,
      workspace_id: agent.workspaceId,
      label: agent.label,
      name: agent.name,
      created_at: now(),
      last_seen_at: null,
      secret_hash: agent.secretHash ?? null,
      created_by_key: agent.createdByKey ?? null,
    };
    await this.db.insertInto('agents').values(row).execute();
    return toAgent(row);
  }

  async findAgent(workspaceId: string, id: string): Promise<AgentRecord | undefined> {
    const row = await this.db
      .selectFrom('agents')
      .selectAll()
      .where('id', '=', id)
      .where('workspace_id', '=', workspaceId)
      .executeTakeFirst();
    return row && toAgent(row);
  }

  async listAgents(workspaceId: string): Promise<AgentRecord[]> {
    const rows = await this.db
      .selectFrom('agents')
      .selectAll()
      .where('workspace_id', '=', workspaceId)
      .orderBy('created_at')
      .execute();
    return rows.map(toAgent);
  }

  async updateAgent(
    workspaceId: string,
    id: string,
    change: { label?: string; name?: string | null },
  ): Promise<void> {
    const set: { label?: string; name?: string | null } = {};
    if (change.label !== undefined) set.label = change.label;
    if (change.name !== undefined) set.name = change.name;
    if (Object.keys(set).length === 0) return;
    await this.db
      .updateTable('agents')
      .set(set)
      .where('id', '=', id)
      .where('workspace_id', '=', workspaceId)
      .execute();
  }

  async touchAgent(id: string, at: string): Promise<void> {
    await this.db.updateTable('agents').set({ last_seen_at: at }).where('id', '=', id).execute();
  }

  async listServices(workspaceId: string): Promise<ServiceRecord[]> {
    const rows = await this.db
      .selectFrom('services')
      .selectAll()
      .where('workspace_id', '=', workspaceId)
      .orderBy('name')
      .execute();
    return rows.map(toService);
  }

  async listAllServices(): Promise<ServiceRecord[]> {
    const rows = await this.db.selectFrom('services').selectAll().orderBy('tunnel_port').execute();
    return rows.map(toService);
  }

  async findServiceByName(workspaceId: string, name: ServiceName): Promise<ServiceRecord | undefined> {
    const row = await this.db
      .selectFrom('services')
      .selectAll()
      .where('workspace_id', '=', workspaceId)
      .where('name', '=', name)
      .executeTakeFirst();
    return row && toService(row);
  }

  async insertService(service: NewService): Promise<ServiceRecord> {
    const at = now();
    const row = {
      id: service.id,
      workspace_id: service.workspaceId,
      agent_id: service.agentId,
      name: service.name,
      target_host: service.targetHost,
      target_port: service.targetPort,
      tunnel_port: service.tunnelPort,
      protocol: service.protocol,
      created_at: at,
      updated_at: at,
    };
    await this.db.insertInto('services').values(row).execute();
    return toService(row);
  }

  async updateService(
    id: string,
    change: Partial<Pick<ServiceRecord, 'agentId' | 'targetHost' | 'targetPort' | 'protocol' | 'tunnelPort'>>,
  ): Promise<ServiceRecord> {
    await this.db
      .updateTable('services')
      .set({
        ...(change.agentId !== undefined && { agent_id: change.agentId }),
        ...(change.targetHost !== undefined && { target_host: change.targetHost }),
        ...(change.targetPort !== undefined && { target_port: change.targetPort }),
        ...(change.protocol !== undefined && { protocol: change.protocol }),
        ...(change.tunnelPort !== undefined && { tunnel_port: change.tunnelPort }),
        updated_at: now(),
      })
      .where('id', '=', id)
      .execute();
    const row = await this.db
      .selectFrom('services')
      .selectAll()
      .where('id', '=', id)
      .executeTakeFirstOrThrow();
    return toService(row);
  }

  async deleteService(workspaceId: string, id: string): Promise<boolean> {
    // A service exposed again under the same name starts without the old one's grants.
    await this.removeGrants(id, 'all');
    const result = await this.db
      .deleteFrom('services')
      .where('id', '=', id)
      .where('workspace_id', '=', workspaceId)
      .executeTakeFirst();
    return Number(result.numDeletedRows) > 0;
  }

  async insertAudit(rows: readonly AuditRecord[]): Promise<void> {
    if (rows.length === 0) return;
    await this.db
      .insertInto('audit')
      .values(
        rows.map((r) => ({
          id: r.id,
          workspace_id: r.workspaceId,
          service: r.service,
          source: r.source,
          agent_id: r.agentId,
          agent_label: r.agentLabel,
          key_id: r.keyId,
          remote: r.remote,
          started_at: r.startedAt,
          ended_at: r.endedAt,
          duration_ms: r.durationMs,
          bytes_to_service: r.bytesToService,
          bytes_from_service: r.bytesFromService,
          end: r.end,
          code: r.code,
          reason: r.reason,
        })),
      )
      .execute();
  }

  async listAudit(workspaceId: string, query: { service?: string; limit: number }): Promise<AuditRecord[]> {
    let q = this.db.selectFrom('audit').selectAll().where('workspace_id', '=', workspaceId);
    if (query.service !== undefined) q = q.where('service', '=', query.service);
    const rows = await q.orderBy('ended_at', 'desc').orderBy('id', 'desc').limit(query.limit).execute();
    return rows.map(toAudit);
  }

  async pruneAudit(keepRows: number, endedBefore: string): Promise<number> {
    let deleted = 0;
    const old = await this.db.deleteFrom('audit').where('ended_at', '<', endedBefore).executeTakeFirst();
    deleted += Number(old.numDeletedRows);
    // The newest keepRows stay: the next newest row and every older one go (a tie with it goes too).
    const cutoff = await this.db
      .selectFrom('audit')
      .select('ended_at')
      .orderBy('ended_at', 'desc')
      .limit(1)
      .offset(keepRows)
      .executeTakeFirst();
    if (cutoff) {
      const over = await this.db
        .deleteFrom('audit')
        .where('ended_at', '<=', cutoff.ended_at)
        .executeTakeFirst();
      deleted += Number(over.numDeletedRows);
    }
    return deleted;
  }

  async listGrants(serviceId: string): Promise<string[]> {
    const rows = await this.db
      .selectFrom('service_grants')
      .select('grantee')
      .where('service_id', '=', serviceId)
      .orderBy('grantee')
      .execute();
    return rows.map((r) => r.grantee);
  }

  async listWorkspaceGrants(workspaceId: string): Promise<Map<string, string[]>> {
    const rows = await this.db
      .selectFrom('service_grants')
      .select(['service_id', 'grantee'])
      .where('workspace_id', '=', workspaceId)
      .orderBy('grantee')
      .execute();
    const grants = new Map<string, string[]>();
    for (const r of rows) grants.set(r.service_id, [...(grants.get(r.service_id) ?? []), r.grantee]);
    return grants;
  }

  async listAllGrants(): Promise<{ workspaceId: string; name: ServiceName; grantee: string }[]> {
    const rows = await this.db
      .selectFrom('service_grants')
      .innerJoin('services', 'services.id', 'service_grants.service_id')
      .select(['services.workspace_id', 'services.name', 'service_grants.grantee'])
      .orderBy('service_grants.grantee')
      .execute();
    return rows.map((r) => ({
      workspaceId: r.workspace_id,
      name: r.name as ServiceName,
      grantee: r.grantee,
    }));
  }

  async addGrants(workspaceId: string, serviceId: string, grantees: string[]): Promise<void> {
    if (grantees.length === 0) return;
    const at = now();
    await this.db
      .insertInto('service_grants')
      .values(
        grantees.map((grantee) => ({
          service_id: serviceId,
          workspace_id: workspaceId,
          grantee,
          created_at: at,
        })),
      )
      .onConflict((oc) => oc.columns(['service_id', 'grantee']).doNothing())
      .execute();
  }

  async removeGrants(serviceId: string, grantees: string[] | 'all'): Promise<void> {
    if (grantees !== 'all' && grantees.length === 0) return;
    let query = this.db.deleteFrom('service_grants').where('service_id', '=', serviceId);
    if (grantees !== 'all') query = query.where('grantee', 'in', grantees);
    await query.execute();
  }

  async usedTunnelPorts(): Promise<Set<number>> {
    const rows = await this.db.selectFrom('services').select('tunnel_port').execute();
    return new Set(rows.map((r) => Number(r.tunnel_port)));
  }

  async createShare(share: NewShareRecord): Promise<ShareRecord> {
    const row = {
      id: share.id,
      workspace_id: share.workspaceId,
      service_name: share.serviceName,
      created_by_key: share.createdByKey,
      to_label: share.to,
      hash: share.hash,
      created_at: now(),
      expires_at: share.expiresAt,
      revoked_at: null,
    };
    await this.db.insertInto('shares').values(row).execute();
    return toShare(row);
  }

  async findShare(id: string): Promise<ShareRecord | undefined> {
    const row = await this.db.selectFrom('shares').selectAll().where('id', '=', id).executeTakeFirst();
    return row && toShare(row);
  }

  async listShares(workspaceId: string): Promise<ShareRecord[]> {
    const rows = await this.db
      .selectFrom('shares')
      .selectAll()
      .where('workspace_id', '=', workspaceId)
      .orderBy('created_at')
      .execute();
    return rows.map(toShare);
  }

  async revokeShare(workspaceId: string, id: string): Promise<boolean> {
    const result = await this.db
      .updateTable('shares')
      .set({ revoked_at: now() })
      .where('id', '=', id)
      .where('workspace_id', '=', workspaceId)
      .where('revoked_at', 'is', null)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) > 0;
  }
}
