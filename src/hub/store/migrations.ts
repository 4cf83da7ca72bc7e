import type { Kysely, Migration, MigrationProvider } from 'kysely';

/**
 * Versioned migrations, shared by SQLite and PostgreSQL: only portable column types (text, integer) and
 * portable constraints. Never edit a published migration; add the next one.
 */
const migrations: Record<string, Migration> = {
  '0001_initial': {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createTable('workspaces')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('name', 'text', (c) => c.notNull().unique())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('api_keys')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('workspace_id', 'text', (c) => c.notNull().references('workspaces.id'))
        .addColumn('hash', 'text', (c) => c.notNull())
        .addColumn('label', 'text')
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('revoked_at', 'text')
        .execute();
      await db.schema
        .createTable('agents')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('workspace_id', 'text', (c) => c.notNull().references('workspaces.id'))
        .addColumn('label', 'text', (c) => c.notNull())
        .addColumn('name', 'text')
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('last_seen_at', 'text')
        .execute();
      await db.schema
        .createTable('services')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('workspace_id', 'text', (c) => c.notNull().references('workspaces.id'))
        .addColumn('agent_id', 'text', (c) => c.notNull().references('agents.id'))
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('target_host', 'text', (c) => c.notNull())
        .addColumn('target_port', 'integer', (c) => c.notNull())
        .addColumn('tunnel_port', 'integer', (c) => c.notNull().unique())
        .addColumn('protocol', 'text', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('updated_at', 'text', (c) => c.notNull())
        .addUniqueConstraint('services_workspace_name', ['workspace_id', 'name'])
        .execute();
      await db.schema.createIndex('agents_workspace').on('agents').column('workspace_id').execute();
    },
    async down(db: Kysely<unknown>): Promise<void> {
      for (const table of ['services', 'agents', 'api_keys', 'workspaces'])
        await db.schema.dropTable(table).execute();
    },
  },
  /**
   * Scoped keys (role, the services a `reach` key may reach, an expiry) and agent credentials (the hash of the
   * secret each agent is issued at registration, and the key that registered it). Existing keys become `admin`
   * (what every key could do before); existing agents have no secret and must register again.
   */
  '0002_key_roles_agent_secrets': {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .alterTable('api_keys')
        .addColumn('role', 'text', (c) => c.notNull().defaultTo('admin'))
        .execute();
      await db.schema.alterTable('api_keys').addColumn('services', 'text').execute();
      await db.schema.alterTable('api_keys').addColumn('expires_at', 'text').execute();
      await db.schema.alterTable('agents').addColumn('secret_hash', 'text').execute();
      await db.schema.alterTable('agents').addColumn('created_by_key', 'text').execute();
    },
    async down(db: Kysely<unknown>): Promise<void> {
      for (const column of ['role', 'services', 'expires_at'])
        await db.schema.alterTable('api_keys').dropColumn(column).execute();
      for (const column of ['secret_hash', 'created_by_key'])
        await db.schema.alterTable('agents').dropColumn(column).execute();
    },
  },
  // Named 0003: 0002 is taken by another change of the same release (key roles, agent secrets); this one does not
  // depend on it. Bytes and durations are bigint (a long stream passes 2^31 bytes; PostgreSQL's integer would not).
  '0003_audit': {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createTable('audit')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('workspace_id', 'text', (c) => c.notNull())
        .addColumn('service', 'text', (c) => c.notNull())
        .addColumn('source', 'text', (c) => c.notNull())
        .addColumn('agent_id', 'text')
        .addColumn('agent_label', 'text')
        .addColumn('key_id', 'text')
        .addColumn('remote', 'text')
        .addColumn('started_at', 'text', (c) => c.notNull())
        .addColumn('ended_at', 'text', (c) => c.notNull())
        .addColumn('duration_ms', 'bigint', (c) => c.notNull())
        .addColumn('bytes_to_service', 'bigint', (c) => c.notNull())
        .addColumn('bytes_from_service', 'bigint', (c) => c.notNull())
        .addColumn('end', 'text', (c) => c.notNull())
        .addColumn('code', 'text')
        .addColumn('reason', 'text')
        .execute();
      await db.schema
        .createIndex('audit_workspace_ended')
        .on('audit')
        .columns(['workspace_id', 'ended_at'])
        .execute();
      await db.schema.createIndex('audit_ended').on('audit').column('ended_at').execute();
    },
    async down(db: Kysely<unknown>): Promise<void> {
      await db.schema.dropTable('audit').execute();
    },
  },
  /**
   * Per-service grants: with rows here, only an agent whose label, or whose session's key id, is a grantee (or the
   * service's own agent) may open a stream to the service. No rows: every key of the workspace may, as before.
   */
  '0004_service_grants': {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createTable('service_grants')
        .addColumn('service_id', 'text', (c) => c.notNull())
        .addColumn('workspace_id', 'text', (c) => c.notNull().references('workspaces.id'))
        .addColumn('grantee', 'text', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addUniqueConstraint('service_grants_service_grantee', ['service_id', 'grantee'])
        .execute();
      await db.schema
        .createIndex('service_grants_workspace')
        .on('service_grants')
        .column('workspace_id')
        .execute();
    },
    async down(db: Kysely<unknown>): Promise<void> {
      await db.schema.dropTable('service_grants').execute();
    },
  },
  /** Expiring shares (src/api/share.ts): the hub keeps the hash of each share's secret, never the token. */
  '0005_shares': {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createTable('shares')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('workspace_id', 'text', (c) => c.notNull().references('workspaces.id'))
        .addColumn('service_name', 'text', (c) => c.notNull())
        .addColumn('created_by_key', 'text', (c) => c.notNull())
        .addColumn('to_label', 'text')
        .addColumn('hash', 'text', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('expires_at', 'text', (c) => c.notNull())
        .addColumn('revoked_at', 'text')
        .execute();
      await db.schema.createIndex('shares_workspace').on('shares').column('workspace_id').execute();
    },
    async down(db: Kysely<unknown>): Promise<void> {
      await db.schema.dropTable('shares').execute();
    },
  },
};

export const migrationProvider: MigrationProvider = {
  getMigrations: () => Promise.resolve(migrations),
};
