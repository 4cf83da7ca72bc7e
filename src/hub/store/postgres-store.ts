import pg from 'pg';
import { Kysely, PostgresDialect } from 'kysely';
import type { Database } from './schema.js';
import { KyselyStore } from './kysely-store.js';

/**
 * PostgreSQL, for deployments that outgrow one hub. `schema` isolates a hub (or a test run) inside a shared
 * database by setting the search_path of every pooled connection.
 */
export function openPostgresStore(connectionString: string, schema?: string): KyselyStore {
  const pool = new pg.Pool({
    connectionString,
    max: 10,
    connectionTimeoutMillis: 5000,
    ...(schema && { options: `-c search_path=${schema}` }),
  });
  // An idle client losing its server must not crash the hub; the next query reports the failure.
  pool.on('error', () => undefined);
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  return new KyselyStore(db);
}
