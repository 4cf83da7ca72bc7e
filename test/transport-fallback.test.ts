/**
 * The agent's link to the hub: the private-connect fast path (unmasked framing) where nothing in the way objects,
 * a standard masked WebSocket where a proxy passes only WebSockets. Real hub, real agents, a real TCP proxy in
 * between that records what it sees.
 */
import { connect, createServer, type Server } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanupAll, signedInHome, spawnCli, startTestHub, type TestHub } from './helpers/harness.js';
import { echoServer, roundTrip, type RunningServer } from './helpers/servers.js';

interface Seen {
  /** The Upgrade header of each upgrade request, in order. */
  upgrades: string[];
  /** For each upgrade that went through: whether the client's first frame carried the mask bit. */
  clientMasked: boolean[];
}

/**
 * A TCP proxy to the hub. 'websocket-only' answers an `Upgrade: private-connect` with 400, as proxies that pass
 * only WebSockets do; 'pass-all' forwards everything.
 */
async function recordingProxy(
  hubPort: number,
  mode: 'websocket-only' | 'pass-all',
): Promise<{ url: string; seen: Seen; server: Server }> {
  const seen: Seen = { upgrades: [], clientMasked: [] };
  const server = createServer((client) => {
    let head = Buffer.alloc(0);
    client.on('error', () => client.destroy());
    const onData = (chunk: Buffer): void => {
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) return;
      client.off('data', onData);
      const text = head.subarray(0, end).toString('latin1');
      const upgrade = /^upgrade:\s*(.+)$/im.exec(text)?.[1]?.trim().toLowerCase();
      if (upgrade) seen.upgrades.push(upgrade);
      if (upgrade === 'private-connect' && mode === 'websocket-only') {
        client.end('HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
        return;
      }
      const upstream = connect({ host: '127.0.0.1', port: hubPort });
      upstream.on('error', () => client.destroy());
      upstream.write(head);
      if (upgrade) {
        client.once('data', (first: Buffer) => seen.clientMasked.push(((first[1] ?? 0) & 0x80) !== 0));
      }
      client.pipe(upstream);
      upstream.pipe(client);
    };
    client.on('data', onData);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as { port: number }).port}`, seen, server };
}

let hub: TestHub;
let echo: RunningServer;
let key: string;
const servers: Server[] = [];

beforeAll(async () => {
  hub = await startTestHub();
  key = await hub.createKey();
  echo = await echoServer();
  const home = await signedInHome(hub, key, 'fallback-server');
  const exposer = spawnCli(['expose', 'fallback-echo', String(echo.port)], { home });
  await exposer.waitForEvent('exposed');
});

afterAll(async () => {
  for (const s of servers) s.close();
  await echo?.close();
  await cleanupAll();
});

/** Signs a new agent in through `url` and reaches the echo service; returns the local port. */
async function reachThrough(url: string, label: string): Promise<number> {
  const home = await signedInHome({ url }, key, label);
  const reacher = spawnCli(['reach', 'fallback-echo', '0'], { home });
  return (await reacher.waitForEvent('reaching')).localPort;
}

describe('the link between agent and hub', () => {
  it('uses the private-connect fast path (frames unmasked) when nothing in the way objects', async () => {
    const proxy = await recordingProxy(hub.port, 'pass-all');
    servers.push(proxy.server);
    const port = await reachThrough(proxy.url, 'fast-client');
    const r = await roundTrip(port, 1024 * 1024);
    expect(r.received).toBe(r.sent);
    expect(proxy.seen.upgrades).toEqual(['private-connect']);
    expect(proxy.seen.clientMasked).toEqual([false]);
  });

  it('falls back to a masked WebSocket through a proxy that passes only WebSockets', async () => {
    const proxy = await recordingProxy(hub.port, 'websocket-only');
    servers.push(proxy.server);
    const port = await reachThrough(proxy.url, 'proxied-client');
    const r = await roundTrip(port, 1024 * 1024);
    expect(r.received).toBe(r.sent);
    expect(proxy.seen.upgrades).toEqual(['private-connect', 'websocket']);
    expect(proxy.seen.clientMasked).toEqual([true]);
  });

  it('CONNECT_TRANSPORT=websocket asks for a WebSocket straight away', async () => {
    const proxy = await recordingProxy(hub.port, 'pass-all');
    servers.push(proxy.server);
    const home = await signedInHome({ url: proxy.url }, key, 'ws-client');
    const reacher = spawnCli(['reach', 'fallback-echo', '0'], {
      home,
      env: { CONNECT_TRANSPORT: 'websocket' },
    });
    const port = (await reacher.waitForEvent('reaching')).localPort;
    const r = await roundTrip(port, 256 * 1024);
    expect(r.received).toBe(r.sent);
    expect(proxy.seen.upgrades).toEqual(['websocket']);
    expect(proxy.seen.clientMasked).toEqual([true]);
  });
});
