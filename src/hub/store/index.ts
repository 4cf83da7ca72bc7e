import type { Store } from './types.js';
import { openSqliteStore } from './sqlite-store.js';
import { openPostgresStore } from './postgres-store.js';

export type { Store } from './types.js';
export * from './types.js';

/** Opens the hub's store: PostgreSQL when a postgres:// URL is given, the embedded SQLite file otherwise. */
export function openStore(opts: { dataDir: string; databaseUrl?: string | undefined }): Store {
  if (opts.databaseUrl) return openPostgresStore(opts.databaseUrl);
  return openSqliteStore(opts.dataDir);
}
