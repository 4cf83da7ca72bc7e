import { afterAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { openSqliteStore } from '../src/hub/store/sqlite-store.js';
import { openPostgresStore } from '../src/hub/store/postgres-store.js';
import type { Store } from '../src/hub/store/index.js';
import { parseServiceName } from '../src/api/service-name.js';
import { tempDir, cleanupAll, tcpReachable } from './helpers/harness.js';

const PG_URL = process.env.CONNECT_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const pgAvailable = await tcpReachable(5432);
if (!pgAvailable) console.log('[skip] PostgreSQL store tests: nothing answers on 127.0.0.1:5432');
const schema = `pc_test_${process.pid}_${Date.now()}`;

afterAll(async () => {
  await cleanupAll();
  if (pgAvailable) {
    const client = new pg.Client({ connectionString: PG_URL });
    await client.connect();
    await client.query(`drop schema if exists ${schema} cascade`);
    await client.end();
  }
});

/** The same contract runs against every backend: the interface must not be SQLite-shaped. */
function storeContract(name: string, open: () => Promise<Store>, skip = false): void {
  describe.skipIf(skip)(`${name} store`, () => {
    it('migrates idempotently and answers ping', async () => {
      const store = await open();
      await store.migrate();
      await store.migrate();
      expect(await store.ping()).toBe(true);
      await store.close();
    });

    it('keeps workspaces, keys, agents and services, scoped by workspace', async () => {
      const store = await open();
      await store.migrate();
      const a = await store.ensureWorkspace('alpha');
      expect((await store.ensureWorkspace('alpha')).id).toBe(a.id);
      const b = await store.ensureWorkspace('beta');

      await store.createApiKey({ id: 'k1', workspaceId: a.id, hash: 'h1', label: 'ci' });
      expect((await store.findApiKey('k1'))?.revokedAt).toBeNull();
      expect(await store.revokeApiKey('k1')).toBe(true);
      expect(await store.revokeApiKey('k1')).toBe(false);
      expect((await store.findApiKey('k1'))?.revokedAt).toEqual(expect.any(String));
      expect((await store.listApiKeys()).find((k) => k.id === 'k1')?.workspaceName).toBe('alpha');

      await store.createAgent({ id: 'agent_1', workspaceId: a.id, label: 'laptop', name: null });
      expect(await store.findAgent(a.id, 'agent_1')).toMatchObject({ label: 'laptop' });
      expect(await store.findAgent(b.id, 'agent_1')).toBeUndefined();
      await store.updateAgent(a.id, 'agent_1', { label: 'desk' });
      expect((await store.findAgent(a.id, 'agent_1'))?.label).toBe('desk');

      const svc = await store.insertService({
        id: 'svc_1',
        workspaceId: a.id,
        agentId: 'agent_1',
        name: parseServiceName('Staging-DB'), // a name is lower-cased where it is parsed, once
        targetHost: 'localhost',
        targetPort: 5432,
        tunnelPort: 23000,
        protocol: 'tcp',
      });
      expect(svc.name).toBe('staging-db');
      expect(await store.findServiceByName(a.id, parseServiceName('STAGING-db'))).toMatchObject({
        id: 'svc_1',
        targetPort: 5432,
        tunnelPort: 23000,
      });
      expect(await store.findServiceByName(b.id, parseServiceName('staging-db'))).toBeUndefined();
      expect(await store.listServices(b.id)).toEqual([]);
      await expect(store.insertService({ ...svc, id: 'svc_2', tunnelPort: 23001 })).rejects.toThrow();
      expect(await store.usedTunnelPorts()).toEqual(new Set([23000]));
      const moved = await store.updateService('svc_1', { tunnelPort: 23005, targetPort: 6543 });
      expect(moved).toMatchObject({ tunnelPort: 23005, targetPort: 6543 });
      expect(await store.deleteService(b.id, 'svc_1')).toBe(false);
      expect(await store.deleteService(a.id, 'svc_1')).toBe(true);
      expect(await store.listAllServices()).toEqual([]);
      await store.close();
    });
  });
}

storeContract('SQLite', () => Promise.resolve(openSqliteStore(tempDir('pc-store-'))));

storeContract(
  'PostgreSQL',
  async () => {
    const client = new pg.Client({ connectionString: PG_URL });
    await client.connect();
    await client.query(`create schema if not exists ${schema}`);
    await client.query(`drop schema ${schema} cascade`);
    await client.query(`create schema ${schema}`);
    await client.end();
    return openPostgresStore(PG_URL, schema);
  },
  !pgAvailable,
);

describe('PostgreSQL store when the server is unreachable', () => {
  it('reports ping false instead of throwing', async () => {
    const store = openPostgresStore('postgres://postgres@127.0.0.1:1/none');
    expect(await store.ping()).toBe(false);
    await store.close();
  });
});

describe.skipIf(!pgAvailable)('a hub on PostgreSQL (connect hub start --database-url)', () => {
  it('creates keys, signs in an agent and lists services from PostgreSQL', async () => {
    const { startTestHub, runCli, signedInHome } = await import('./helpers/harness.js');
    const db = `pc_e2e_${process.pid}_${Date.now()}`;
    const admin = new pg.Client({ connectionString: PG_URL });
    await admin.connect();
    await admin.query(`create database ${db}`);
    const url = PG_URL.replace(/\/[^/]*$/, `/${db}`);
    try {
      const hub = await startTestHub({ args: ['--database-url', url] });
      const health = (await (await fetch(`${hub.url}/health`)).json()) as {
        store: { kind: string; reachable: boolean };
      };
      expect(health.store).toEqual({ kind: 'postgres', reachable: true });
      const created = await runCli(['hub', 'keys', 'create', '--json', '--database-url', url], {
        home: hub.home,
      });
      const { key } = JSON.parse(created.stdout) as { key: string };
      await signedInHome(hub, key, 'pg-agent');
      const services = await fetch(`${hub.url}/v1/services`, { headers: { 'x-api-key': key } });
      expect(await services.json()).toEqual([]);
      await hub.stop();
    } finally {
      await admin.query(`drop database if exists ${db} with (force)`);
      await admin.end();
    }
  });
});
