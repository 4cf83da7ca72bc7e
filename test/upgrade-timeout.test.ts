/**
 * The agent endpoint's upgrade timeout: a hub whose store stops answering (here PostgreSQL behind a TCP forwarder
 * the test freezes) must not hold upgrade sockets for as long as the store hangs. It answers 408 after
 * upgrade-timeout-ms, with the reason, and serves again once the store is back.
 */
import { createServer, connect, type Server, type Socket } from 'node:net';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { cleanupAll, runCli, startTestHub, tcpReachable } from './helpers/harness.js';
import { RawPeer, health, registerAgent } from './helpers/raw-peer.js';

const PG_URL = process.env.CONNECT_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const pgAvailable = await tcpReachable(5432);
if (!pgAvailable) console.log('[skip] upgrade timeout test: nothing answers on 127.0.0.1:5432 (PostgreSQL)');

/** Forwards TCP to PostgreSQL until frozen: then bytes stop in both directions, as with a hung server. */
async function freezableForwarder(): Promise<{ port: number; freeze(): void; thaw(): void; close(): void }> {
  const pairs: [Socket, Socket][] = [];
  let frozen = false;
  const server: Server = createServer((client) => {
    const upstream = connect({ host: '127.0.0.1', port: 5432 });
    pairs.push([client, upstream]);
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
    client.pipe(upstream);
    upstream.pipe(client);
    if (frozen) {
      client.pause();
      upstream.pause();
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  const each = (fn: (s: Socket) => void) => pairs.forEach(([a, b]) => (fn(a), fn(b)));
  return {
    port,
    freeze: () => {
      frozen = true;
      each((s) => s.pause());
    },
    thaw: () => {
      frozen = false;
      each((s) => s.resume());
    },
    close: () => {
      each((s) => s.destroy());
      server.close();
    },
  };
}

afterAll(cleanupAll);

describe.skipIf(!pgAvailable)('agent upgrade while the store hangs', () => {
  it('answers 408 after upgrade-timeout-ms instead of holding the socket, then serves again', async () => {
    const db = `pc_upgrade_${process.pid}_${Date.now()}`;
    const admin = new pg.Client({ connectionString: PG_URL });
    await admin.connect();
    await admin.query(`create database ${db}`);
    const direct = PG_URL.replace(/\/[^/]*$/, `/${db}`);
    const forwarder = await freezableForwarder();
    try {
      const viaForwarder = direct.replace('127.0.0.1:5432', `127.0.0.1:${forwarder.port}`);
      const hub = await startTestHub({
        args: ['--database-url', viaForwarder, '--limit', 'upgrade-timeout-ms=1000'],
      });
      const created = await runCli(['hub', 'keys', 'create', '--json', '--database-url', direct], {
        home: hub.home,
      });
      const { key } = JSON.parse(created.stdout) as { key: string };
      const { agentId } = await registerAgent(hub.url, key, 'patient');

      forwarder.freeze();
      const started = Date.now();
      const refused = await RawPeer.upgradeRaw(hub.url, { apiKey: key, agentId, timeoutMs: 10_000 });
      const waited = Date.now() - started;
      expect(refused.status).toBe(408);
      expect(JSON.parse(refused.body)).toMatchObject({
        code: 'TIMEOUT',
        message: 'authentication did not finish within 1000 ms',
      });
      expect(waited).toBeGreaterThanOrEqual(900);
      expect(waited).toBeLessThan(3000);

      forwarder.thaw();
      expect(await health(hub.url)).toBe(true);
      const peer = await RawPeer.connect(hub.url, { apiKey: key, agentId });
      peer.destroy();
      await hub.stop();
    } finally {
      forwarder.close();
      await admin.query(`drop database if exists ${db} with (force)`);
      await admin.end();
    }
  });
});
