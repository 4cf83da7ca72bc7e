/**
 * API key administration where the hub's store is (`connect hub keys create|list|revoke`): the store is opened,
 * migrated, used for one change and closed, so a command can run next to a live hub.
 */
import { openStore, type Store } from '../hub/store/index.js';
import { generateApiKey } from '../hub/api-keys.js';
import { ConnectError, ErrorCodes } from '../api/errors.js';
import { DEFAULT_KEY_ROLE, KEY_ROLES, isKeyRole, type KeyRole } from '../api/key-role.js';
import { parseServiceName, type ServiceName } from '../api/service-name.js';

/** Which store: the embedded SQLite file in `dataDir`, or PostgreSQL at `databaseUrl`. */
export interface StoreLocation {
  dataDir: string;
  databaseUrl?: string | undefined;
}

export interface CreatedKey {
  /** The key itself: shown once, never stored (the store keeps its hash). */
  key: string;
  id: string;
  workspace: string;
  role: KeyRole;
  services: ServiceName[] | null;
  expiresAt: string | null;
}

/** What `keys create` may scope a key to (all optional: an admin key for every service, never expiring). */
export interface KeyScopeInput {
  label?: string | undefined;
  /** `--role`: admin | agent | reach. */
  role?: string | undefined;
  /** `--services a,b`: the only services the key may reach. */
  services?: string | undefined;
  /** `--expires 24h`: a number and a unit (s, m, h, d). */
  expires?: string | undefined;
}

/** The longest `--expires` (a longer one is a mistake: leave it out for a key that does not expire). */
export const MAX_KEY_LIFETIME_MS = 366 * 24 * 3600_000;
const DURATION_UNITS_MS = { s: 1000, m: 60_000, h: 3600_000, d: 24 * 3600_000 } as const;

/** `24h`, `30m`, `7d`, `90s` → milliseconds; BAD_INPUT with the accepted form otherwise. */
export function parseDuration(text: string, flag: string): number {
  const match = /^([0-9]{1,9})([smhd])$/.exec(text.trim());
  const ms = match ? Number(match[1]) * DURATION_UNITS_MS[match[2] as keyof typeof DURATION_UNITS_MS] : NaN;
  if (!Number.isFinite(ms) || ms < 1000 || ms > MAX_KEY_LIFETIME_MS) {
    throw new ConnectError(
      ErrorCodes.BAD_INPUT,
      `invalid ${flag} '${text}': use a number and s, m, h or d (e.g. 24h), from 1s to 366d`,
    );
  }
  return ms;
}

function parseRole(text: string | undefined): KeyRole {
  if (text === undefined) return DEFAULT_KEY_ROLE;
  if (!isKeyRole(text)) {
    throw new ConnectError(
      ErrorCodes.BAD_INPUT,
      `invalid --role '${text}': use one of ${KEY_ROLES.join(', ')}`,
    );
  }
  return text;
}

function parseServiceList(text: string | undefined): ServiceName[] | null {
  if (text === undefined) return null;
  const names = text.split(',').map((n) => n.trim());
  if (names.some((n) => n === '')) {
    throw new ConnectError(
      ErrorCodes.BAD_INPUT,
      `invalid --services '${text}': use names separated by commas`,
    );
  }
  return [...new Set(names.map((n) => parseServiceName(n)))];
}

export interface KeyRow {
  id: string;
  workspace: string;
  label: string | null;
  role: KeyRole;
  services: ServiceName[] | null;
  expiresAt: string | null;
  createdAt: string;
  revokedAt: string | null;
}

const WORKSPACE_PATTERN = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$/;

async function withStore<T>(where: StoreLocation, fn: (store: Store) => Promise<T>): Promise<T> {
  const store = await openStore(where);
  try {
    await store.migrate();
    return await fn(store);
  } finally {
    await store.close();
  }
}

/** Creates a key in `workspace` (created if new), scoped by role, services and expiry. */
export async function createKey(
  where: StoreLocation,
  workspace: string,
  scope: KeyScopeInput = {},
): Promise<CreatedKey> {
  const role = parseRole(scope.role);
  const services = parseServiceList(scope.services);
  const expiresAt =
    scope.expires === undefined
      ? null
      : new Date(Date.now() + parseDuration(scope.expires, '--expires')).toISOString();
  if (!WORKSPACE_PATTERN.test(workspace)) {
    throw new ConnectError(
      ErrorCodes.BAD_INPUT,
      `invalid workspace name '${workspace}': use letters, digits, '.', '_' and '-'`,
    );
  }
  return withStore(where, async (store) => {
    const ws = await store.ensureWorkspace(workspace);
    const key = generateApiKey();
    await store.createApiKey({
      id: key.id,
      workspaceId: ws.id,
      hash: key.hash,
      label: scope.label ?? null,
      role,
      services,
      expiresAt,
    });
    return { key: key.key, id: key.id, workspace: ws.name, role, services, expiresAt };
  });
}

/** Every key, by id (never the keys themselves). */
export async function listKeys(where: StoreLocation): Promise<KeyRow[]> {
  const list = await withStore(where, (store) => store.listApiKeys());
  return list.map((k) => ({
    id: k.id,
    workspace: k.workspaceName,
    label: k.label,
    role: k.role,
    services: k.services,
    expiresAt: k.expiresAt,
    createdAt: k.createdAt,
    revokedAt: k.revokedAt,
  }));
}

/** Revokes a key named by its id or by the full key; returns the id. NOT_FOUND when no active key has it. */
export async function revokeKey(where: StoreLocation, idOrKey: string): Promise<string> {
  const keyId = /^tok_([a-f0-9]{16})_/.exec(idOrKey)?.[1] ?? idOrKey;
  const revoked = await withStore(where, (store) => store.revokeApiKey(keyId));
  if (!revoked) throw new ConnectError(ErrorCodes.NOT_FOUND, `no active API key with id '${keyId}'`);
  return keyId;
}
