import BetterSqlite3 from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { Kysely, SqliteDialect } from 'kysely';
import type { Database } from './schema.js';
import { KyselyStore } from './kysely-store.js';

/** The embedded default: one SQLite file in the hub's data folder, WAL so readers never block the writer. */
export function openSqliteStore(dataDir: string): KyselyStore {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const database = new BetterSqlite3(join(dataDir, 'hub.db'));
  database.pragma('journal_mode = WAL');
  database.pragma('foreign_keys = ON');
  database.pragma('busy_timeout = 5000');
  const db = new Kysely<Database>({ dialect: new SqliteDialect({ database }) });
  return new KyselyStore(db);
}
