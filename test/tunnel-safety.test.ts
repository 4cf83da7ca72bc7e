/**
 * Tunnel ports safe by default (issue #13, item 6), against real hubs and agents in child processes:
 * a tunnel host beyond loopback needs `--tunnel-allow`; a peer outside the list is closed at once and logged;
 * a tunnel port closes when its service goes offline (agent gone) and when the exposing key is revoked.
 * 127.0.0.0/8 addresses are all local on Linux: a client picks its source address with `localAddress`.
 */
import { connect, type Socket } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import {
  cleanupAll,
  runCli,
  signedInHome,
  spawnCli,
  startTestHub,
  tcpReachable,
  tempDir,
  sleep,
  type CliProcess,
} from './helpers/harness.js';
import { echoServer, type RunningServer } from './helpers/servers.js';
import { startHub } from '../src/hub/server.js';
import { generateApiKey } from '../src/hub/api-keys.js';
import { createLogger } from '../src/util/logger.js';
import { parsePortRange } from '../src/util/parse.js';
import { randomTunnelRange } from './helpers/harness.js';

const servers: RunningServer[] = [];

afterAll(async () => {
  await cleanupAll();
  await Promise.all(servers.map((s) => s.close()));
});

/** Connects from `localAddress`, sends `payload`, half-closes; resolves with what came back and how it ended. */
function exchange(
  port: number,
  localAddress: string,
  payload: Buffer,
): Promise<{ received: Buffer; error?: string }> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port, localAddress, allowHalfOpen: true });
    const chunks: Buffer[] = [];
    let error: string | undefined;
    socket.on('connect', () => socket.end(payload));
    socket.on('data', (d: Buffer) => chunks.push(d));
    socket.on('error', (err: NodeJS.ErrnoException) => (error = err.code ?? err.message));
    socket.on('close', () => resolve({ received: Buffer.concat(chunks), ...(error && { error }) }));
  });
}

/** A connected socket kept open, and a promise of its close. */
async function holdOpen(port: number): Promise<{ socket: Socket; closed: Promise<void> }> {
  const socket = connect({ host: '127.0.0.1', port });
  socket.on('error', () => undefined);
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  return { socket, closed: new Promise((r) => socket.once('close', () => r())) };
}

async function waitUntil(probe: () => Promise<boolean>, timeoutMs = 10_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await probe()) return true;
    await sleep(100);
  }
  return false;
}

describe('a tunnel host beyond loopback', () => {
  it('refuses to start without --tunnel-allow, with one line saying why', async () => {
    const home = tempDir();
    const r = await runCli(['hub', 'start', '--port', '0', '--data-dir', home, '--tunnel-host', '0.0.0.0'], {
      home,
    });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      /^\[x\] --tunnel-host 0\.0\.0\.0 is reachable from other machines: name who may connect with --tunnel-allow/,
    );
  });

  it('refuses a malformed --tunnel-allow entry, naming it', async () => {
    const home = tempDir();
    const r = await runCli(
      [
        'hub',
        'start',
        '--port',
        '0',
        '--data-dir',
        home,
        '--tunnel-host',
        '0.0.0.0',
        '--tunnel-allow',
        '10.0.0.0/8,10.1/99',
      ],
      { home },
    );
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^\[x\] --tunnel-allow: '10\.1\/99' is not an address or CIDR/);
  });

  it('starts with an allow list and warns who may connect', async () => {
    const hub = await startTestHub({ args: ['--tunnel-host', '0.0.0.0', '--tunnel-allow', '10.0.0.0/8'] });
    await hub.process.waitFor(
      /\[!\] tunnel ports give raw streams to services and listen on 0\.0\.0\.0: only 10\.0\.0\.0\/8 may connect/,
    );
    await hub.stop();
  });
});

/** A real echo server exposed as `echo` by an agent in `home`, and the tunnel port the hub gave it. */
async function exposeEcho(
  home: string,
): Promise<{ echo: RunningServer; exposer: CliProcess; tunnelPort: number }> {
  const echo = await echoServer();
  servers.push(echo);
  const exposer = spawnCli(['expose', 'echo', String(echo.port)], { home });
  const { tunnelPort } = await exposer.waitForEvent('exposed');
  return { echo, exposer, tunnelPort };
}

describe('--tunnel-allow', () => {
  it('serves a listed address and closes any other at once, logging the refusal', async () => {
    const hub = await startTestHub({ args: ['--tunnel-allow', '127.0.0.2/32'] });
    const key = await hub.createKey();
    const home = await signedInHome(hub, key, 'server-a');
    const { exposer, tunnelPort } = await exposeEcho(home);

    const payload = Buffer.alloc(64 * 1024, 7);
    const allowed = await exchange(tunnelPort, '127.0.0.2', payload);
    expect(allowed.error).toBeUndefined();
    expect(allowed.received.equals(payload)).toBe(true);

    // 127.0.0.1 is loopback but not listed: the list is the whole list.
    const refused = await exchange(tunnelPort, '127.0.0.1', payload);
    expect(refused.received.length).toBe(0);
    await hub.process.waitFor(
      new RegExp(
        `tunnel port ${tunnelPort} \\(service 'echo'\\) refused a connection from 127\\.0\\.0\\.1: not in --tunnel-allow`,
      ),
    );
    // The refusal did not affect the allowed peer.
    expect((await exchange(tunnelPort, '127.0.0.2', payload)).received.equals(payload)).toBe(true);
    await exposer.stop();
    await hub.stop();
  });
});

describe('a tunnel port closes when its service goes offline', () => {
  it('closes when the exposing agent goes away', async () => {
    const hub = await startTestHub();
    const key = await hub.createKey();
    const home = await signedInHome(hub, key, 'server-a');
    const { echo, exposer, tunnelPort } = await exposeEcho(home);
    expect(await tcpReachable(tunnelPort)).toBe(true);
    const live = await holdOpen(tunnelPort);
    await exposer.stop('SIGKILL');
    await live.closed;
    expect(await waitUntil(async () => !(await tcpReachable(tunnelPort)))).toBe(true);

    // Exposed again, it listens on the same port again.
    const again = spawnCli(['expose', 'echo', String(echo.port)], { home });
    expect((await again.waitForEvent('exposed')).tunnelPort).toBe(tunnelPort);
    const r = await exchange(tunnelPort, '127.0.0.1', Buffer.from('hello'));
    expect(r.received.toString()).toBe('hello');
    await again.stop();
    await hub.stop();
  });

  it('closes, with its live connections, when the key that exposed it is revoked', async () => {
    const hub = await startHub({
      host: '127.0.0.1',
      port: 0,
      dataDir: tempDir('pc-tun-'),
      tunnelHost: '127.0.0.1',
      tunnelPorts: parsePortRange(randomTunnelRange()),
      logger: createLogger('hub-test', 'silent'),
      keyCheckMs: 200,
    });
    try {
      const workspace = await hub.store.ensureWorkspace('default');
      const k = generateApiKey();
      await hub.store.createApiKey({ id: k.id, workspaceId: workspace.id, hash: k.hash, label: null });
      const home = await signedInHome(hub, k.key, 'server-a');
      const { exposer, tunnelPort } = await exposeEcho(home);
      const live = await holdOpen(tunnelPort);

      await hub.store.revokeApiKey(k.id);
      await live.closed;
      expect(await waitUntil(async () => !(await tcpReachable(tunnelPort)))).toBe(true);
      // The agent cannot bring it back with the revoked key.
      await sleep(1500);
      expect(await tcpReachable(tunnelPort)).toBe(false);
      await exposer.stop();
    } finally {
      await hub.close();
    }
  });
});
