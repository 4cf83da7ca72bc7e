import type { Store } from './types.js';
import { openSqliteStore } from './sqlite-store.js';

export type { Store } from './types.js';
export * from './types.js';

/**
 * Opens the hub's store: PostgreSQL when a postgres:// URL is given, the embedded SQLite file otherwise.
 * The PostgreSQL driver is loaded only when used, so an embedded hub does not carry it in memory.
 */
export async function openStore(opts: { dataDir: string; databaseUrl?: string | undefined }): Promise<Store> {
  if (opts.databaseUrl) {
    const { openPostgresStore } = await import('./postgres-store.js');
    return openPostgresStore(opts.databaseUrl);
  }
  return openSqliteStore(opts.dataDir);
}
