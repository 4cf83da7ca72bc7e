/**
 * API key administration where the hub's store is (`connect hub keys create|list|revoke`): the store is opened,
 * migrated, used for one change and closed, so a command can run next to a live hub.
 */
import { openStore, type Store } from '../hub/store/index.js';
import { generateApiKey } from '../hub/api-keys.js';
import { ConnectError, ErrorCodes } from '../api/errors.js';

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
}

export interface KeyRow {
  id: string;
  workspace: string;
  label: string | null;
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

/** Creates a key in `workspace` (created if new). */
export async function createKey(
  where: StoreLocation,
  workspace: string,
  label?: string,
): Promise<CreatedKey> {
  if (!WORKSPACE_PATTERN.test(workspace)) {
    throw new ConnectError(
      ErrorCodes.BAD_INPUT,
      `invalid workspace name '${workspace}': use letters, digits, '.', '_' and '-'`,
    );
  }
  return withStore(where, async (store) => {
    const ws = await store.ensureWorkspace(workspace);
    const key = generateApiKey();
    await store.createApiKey({ id: key.id, workspaceId: ws.id, hash: key.hash, label: label ?? null });
    return { key: key.key, id: key.id, workspace: ws.name };
  });
}

/** Every key, by id (never the keys themselves). */
export async function listKeys(where: StoreLocation): Promise<KeyRow[]> {
  const list = await withStore(where, (store) => store.listApiKeys());
  return list.map((k) => ({
    id: k.id,
    workspace: k.workspaceName,
    label: k.label,
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
