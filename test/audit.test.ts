/**
 * The audit log (issue #13, item 5), against a real hub and agents in child processes with separate HOMEs:
 * each reach is a row with its bytes each way and how it ended (fin, reset + code, refused + code), read through
 * `GET /v1/audit` by `connect hub audit`; the table is bounded (pruneAudit) on every backend.
 */
import { connect } from 'node:net';
import http from 'node:http';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  cleanupAll,
  closedPort,
  runCli,
  signedInHome,
  sleep,
  spawnCli,
  startTestHub,
  tcpReachable,
  tempDir,
  type CliProcess,
  type TestHub,
} from './helpers/harness.js';
import { echoServer, roundTrip, type RunningServer } from './helpers/servers.js';
import type { AuditView } from '../src/api/views.js';
import { freePort, request } from './proxy-helpers.js';
import type { AuditRecord, Store } from '../src/hub/store/index.js';
import { openSqliteStore } from '../src/hub/store/sqlite-store.js';
import { openPostgresStore } from '../src/hub/store/postgres-store.js';

let hub: TestHub;
let key: string;
let homeA: string;
let homeB: string;
let echo: RunningServer;
let exposer: CliProcess;
let tunnelPort = 0;
let reachPort = 0;

beforeAll(async () => {
  hub = await startTestHub();
  key = await hub.createKey();
  [homeA, homeB] = await Promise.all([
    signedInHome(hub, key, 'server-a'),
    signedInHome(hub, key, 'laptop-b'),
  ]);
  echo = await echoServer();
  exposer = spawnCli(['expose', 'echo', String(echo.port)], { home: homeA });
  tunnelPort = (await exposer.waitForEvent('exposed')).tunnelPort;
  const reacher = spawnCli(['reach', 'echo', '0'], { home: homeB });
  reachPort = (await reacher.waitForEvent('reaching')).localPort;
});

afterAll(async () => {
  await cleanupAll();
  await echo?.close();
});

async function audit(args: string[] = [], home = homeB): Promise<AuditView[]> {
  const r = await runCli(['hub', 'audit', '--json', ...args], { home });
  if (r.code !== 0) throw new Error(`hub audit failed: ${r.stdout}${r.stderr}`);
  return JSON.parse(r.stdout) as AuditView[];
}

/** Polls the audit until a row matches (rows are written in batches, and only once the stream ended). */
async function auditRow(where: (row: AuditView) => boolean, args: string[] = []): Promise<AuditView> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const row = (await audit(args)).find(where);
    if (row) return row;
    if (Date.now() > deadline)
      throw new Error(`no audit row matched; rows: ${JSON.stringify(await audit(args))}`);
    await sleep(250);
  }
}

describe('connect hub audit', () => {
  it("records an agent's reach with the bytes each way and a clean end", async () => {
    const n = 300_001;
    const r = await roundTrip(reachPort, n);
    expect(r.receivedBytes).toBe(n);
    const row = await auditRow((x) => x.source === 'reach' && x.bytesToService === n);
    expect(row).toMatchObject({
      service: 'echo',
      source: 'reach',
      agentLabel: 'laptop-b',
      bytesToService: n,
      bytesFromService: n,
      end: 'fin',
      code: null,
      remote: null,
    });
    expect(row.keyId).toMatch(/^[a-f0-9]{16}$/);
    expect(Date.parse(row.endedAt) - Date.parse(row.startedAt)).toBe(row.durationMs);
  });

  it('records a tunnel-port connection as tunnel-port, with its peer address', async () => {
    const n = 77_777;
    const r = await roundTrip(tunnelPort, n);
    expect(r.receivedBytes).toBe(n);
    const row = await auditRow((x) => x.source === 'tunnel-port' && x.bytesToService === n);
    expect(row).toMatchObject({
      service: 'echo',
      bytesFromService: n,
      end: 'fin',
      remote: '127.0.0.1',
      agentId: null,
      keyId: null,
    });
  });

  it('records a reach the target refused as reset REFUSED', async () => {
    const exposeClosed = spawnCli(['expose', 'gone', String(await closedPort())], { home: homeA });
    await exposeClosed.waitForEvent('exposed');
    const reacher = spawnCli(['reach', 'gone', '0'], { home: homeB });
    const port = (await reacher.waitForEvent('reaching')).localPort;
    await new Promise<void>((resolve) => {
      const s = connect({ host: '127.0.0.1', port });
      s.on('error', () => undefined);
      s.on('close', () => resolve());
    });
    const row = await auditRow((x) => x.service === 'gone' && x.source === 'reach');
    expect(row).toMatchObject({ end: 'reset', code: 'REFUSED', bytesToService: 0, bytesFromService: 0 });
    await exposeClosed.stop();
    // Offline now: the next OPEN is refused by the hub itself, and that is recorded too.
    await sleep(300);
    await new Promise<void>((resolve) => {
      const s = connect({ host: '127.0.0.1', port });
      s.on('error', () => undefined);
      s.on('close', () => resolve());
    });
    const refused = await auditRow((x) => x.service === 'gone' && x.end === 'refused');
    expect(refused).toMatchObject({ code: 'OFFLINE', reason: "service 'gone' is offline" });
    await reacher.stop();
  });

  it("records the local proxy's reach as proxy", async () => {
    const web = http.createServer((_req, res) => res.end('hello from web'));
    await new Promise<void>((r) => web.listen(0, '127.0.0.1', r));
    const webExposer = spawnCli(['expose', 'web', String((web.address() as { port: number }).port)], {
      home: homeA,
    });
    await webExposer.waitForEvent('exposed');
    const proxyPort = await freePort();
    try {
      const start = await runCli(['proxy', 'start', '--port', String(proxyPort)], { home: homeB });
      expect(start.code).toBe(0);
      const reply = await request(proxyPort, `web.localhost:${proxyPort}`);
      expect(reply.body).toBe('hello from web');
      const row = await auditRow((x) => x.service === 'web' && x.source === 'proxy');
      expect(row.agentLabel).toBe('laptop-b');
      expect(row.bytesToService).toBeGreaterThan(0);
      expect(row.bytesFromService).toBeGreaterThan('hello from web'.length);
    } finally {
      await runCli(['proxy', 'stop'], { home: homeB });
      await webExposer.stop();
      web.close();
    }
  });

  it('filters by --service, reads with --hub --api-key from a HOME with no sign-in, and renders a table', async () => {
    const rows = await audit(['--service', 'gone']);
    expect(rows.length).toBeGreaterThan(0);
    expect(rows.every((r) => r.service === 'gone')).toBe(true);

    const fresh = tempDir('pc-audit-');
    const r = await runCli(['hub', 'audit', '--hub', hub.url, '--api-key', key, '--service', 'echo'], {
      home: fresh,
    });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^ENDED\s+SERVICE\s+SOURCE\s+FROM\s+SENT\s+RECEIVED\s+DURATION\s+END$/m);
    expect(r.stdout).toMatch(/echo\s+tunnel-port\s+127\.0\.0\.1\s+76\.0 KiB\s+76\.0 KiB\s+.*fin/);
    expect(r.stdout).toMatch(/echo\s+reach\s+laptop-b\s+293\.0 KiB\s+293\.0 KiB/);

    const noKey = await runCli(['hub', 'audit', '--hub', hub.url], { home: fresh });
    expect(noKey.code).toBe(1);
    expect(noKey.stderr).toMatch(/^\[x\] no API key for http:\/\/127\.0\.0\.1:\d+$/m);
  });

  it("is scoped to the key's workspace", async () => {
    const other = await hub.createKey('other-team');
    const r = await runCli(['hub', 'audit', '--json', '--hub', hub.url, '--api-key', other], {
      home: tempDir(),
    });
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual([]);
  });

  it('answers a bad query with one line, not a 500', async () => {
    for (const query of ['limit=0', 'limit=5000', 'limit=abc', 'service=-bad-', 'other=1']) {
      const res = await fetch(`${hub.url}/v1/audit?${query}`, { headers: { 'x-api-key': key } });
      expect(res.status, query).toBe(400);
      expect(((await res.json()) as { code: string }).code).toBe('BAD_INPUT');
    }
  });
});

const PG_URL = process.env.CONNECT_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const pgAvailable = await tcpReachable(5432);
const schema = `pc_audit_${process.pid}_${Date.now()}`;

afterAll(async () => {
  if (!pgAvailable) return;
  const client = new pg.Client({ connectionString: PG_URL });
  await client.connect();
  await client.query(`drop schema if exists ${schema} cascade`);
  await client.end();
});

function row(i: number, endedAt: string, service = 'db'): AuditRecord {
  return {
    id: `aud_${String(i).padStart(4, '0')}`,
    workspaceId: 'ws_1',
    service,
    source: 'reach',
    agentId: 'agent_1',
    agentLabel: 'laptop',
    keyId: 'k1',
    remote: null,
    startedAt: endedAt,
    endedAt,
    durationMs: 5,
    bytesToService: 3 * 2 ** 31 + i, // past 2^31: a bigint column on PostgreSQL
    bytesFromService: i,
    end: 'fin',
    code: null,
    reason: null,
  };
}

for (const [name, open, skip] of [
  ['sqlite', () => openSqliteStore(tempDir('pc-audit-store-')), false],
  [
    'postgres',
    async () => {
      const client = new pg.Client({ connectionString: PG_URL });
      await client.connect();
      await client.query(`create schema if not exists ${schema}`);
      await client.end();
      return openPostgresStore(PG_URL, schema);
    },
    !pgAvailable,
  ],
] as [string, () => Promise<Store>, boolean][]) {
  describe.skipIf(skip)(`${name} audit table`, () => {
    it('lists newest first, filters by service, and prunes to its bounds', async () => {
      const store = await open();
      await store.migrate();
      const base = Date.parse('2026-01-01T00:00:00Z');
      const at = (i: number): string => new Date(base + i * 1000).toISOString();
      await store.insertAudit(Array.from({ length: 50 }, (_, i) => row(i, at(i), i % 2 ? 'db' : 'cache')));
      const newest = await store.listAudit('ws_1', { limit: 3 });
      expect(newest.map((r) => r.id)).toEqual(['aud_0049', 'aud_0048', 'aud_0047']);
      expect(newest[0]?.bytesToService).toBe(3 * 2 ** 31 + 49);
      expect((await store.listAudit('ws_1', { service: 'cache', limit: 100 })).length).toBe(25);
      expect(await store.listAudit('ws_2', { limit: 100 })).toEqual([]);

      // Older than the cut-off date: rows 0-9 go; then only the newest 30 of what is left stay.
      expect(await store.pruneAudit(30, at(10))).toBe(20);
      const left = await store.listAudit('ws_1', { limit: 100 });
      expect(left.length).toBe(30);
      expect(left.at(-1)?.id).toBe('aud_0020');
      await store.close();
    });
  });
}
