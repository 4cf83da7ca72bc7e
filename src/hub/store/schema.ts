import type { Generated } from 'kysely';

/** Table shapes as kysely sees them. Column names are snake_case in the database. */
export interface Database {
  workspaces: { id: string; name: string; created_at: string };
  api_keys: {
    id: string;
    workspace_id: string;
    hash: string;
    label: string | null;
    created_at: string;
    revoked_at: string | null;
    role: string;
    /** The services a key may reach, comma-separated; null: every service of the workspace. */
    services: string | null;
    expires_at: string | null;
  };
  agents: {
    id: string;
    workspace_id: string;
    label: string;
    name: string | null;
    created_at: string;
    last_seen_at: string | null;
    secret_hash: string | null;
    created_by_key: string | null;
  };
  services: {
    id: string;
    workspace_id: string;
    agent_id: string;
    name: string;
    target_host: string;
    target_port: number;
    tunnel_port: number;
    protocol: string;
    created_at: string;
    updated_at: string;
  };
  audit: {
    id: string;
    workspace_id: string;
    service: string;
    source: string;
    agent_id: string | null;
    agent_label: string | null;
    key_id: string | null;
    remote: string | null;
    started_at: string;
    ended_at: string;
    /** bigint: PostgreSQL's driver returns these as strings, read back with Number(). */
    duration_ms: number | string;
    bytes_to_service: number | string;
    bytes_from_service: number | string;
    end: string;
    code: string | null;
    reason: string | null;
  };
  shares: {
    id: string;
    workspace_id: string;
    service_name: string;
    created_by_key: string;
    to_label: string | null;
    hash: string;
    created_at: string;
    expires_at: string;
    revoked_at: string | null;
  };
  /** Who may reach a service that has grants (src/hub/grants.ts): an agent label or an API key id. */
  service_grants: { service_id: string; workspace_id: string; grantee: string; created_at: string };
  /** kysely's own bookkeeping tables are created by its Migrator. */
  _placeholder?: { id: Generated<number> };
}
