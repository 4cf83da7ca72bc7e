import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import { connect } from 'node:net';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  cleanupAll,
  closedPort,
  runCli,
  signedInHome,
  sleep,
  spawnCli,
  startTestHub,
  tempDir,
  tcpReachable,
  type CliProcess,
  type TestHub,
} from './helpers/harness.js';
import {
  echoServer,
  firehoseServer,
  replyAfterEndServer,
  roundTrip,
  type RunningServer,
} from './helpers/servers.js';

const MB = 1024 * 1024;
let hub: TestHub;
let key: string;
let homeA: string;
let homeB: string;
let echo: RunningServer;
let exposer: CliProcess;
let reacher: CliProcess;
let reachPort = 0;
let tunnelPort = 0;

async function expose(
  home: string,
  name: string,
  target: string,
): Promise<{ proc: CliProcess; tunnelPort: number }> {
  const proc = spawnCli(['expose', name, target], { home, env: { CONNECT_STATS_INTERVAL_MS: '200' } });
  return { proc, tunnelPort: (await proc.waitForEvent('exposed')).tunnelPort };
}

async function reach(home: string, name: string, port = 0): Promise<{ proc: CliProcess; port: number }> {
  const proc = spawnCli(['reach', name, String(port)], { home, env: { CONNECT_STATS_INTERVAL_MS: '200' } });
  return { proc, port: (await proc.waitForEvent('reaching')).localPort };
}

/** The latest stats line an agent printed (CONNECT_STATS_INTERVAL_MS). */
function latestStats(proc: CliProcess): { bufferedBytes?: number; rss: number } {
  const lines = proc.stderr.split('\n').filter((l) => l.startsWith('{"stats"'));
  const last = lines.at(-1);
  if (!last) throw new Error('no stats line yet');
  return (JSON.parse(last) as { stats: { bufferedBytes?: number; rss: number } }).stats;
}

async function hubMetric(name: string): Promise<number> {
  const text = await (await fetch(`${hub.url}/metrics`, { headers: { 'x-api-key': key } })).text();
  const m = new RegExp(`^${name} (\\d+(?:\\.\\d+)?)`, 'm').exec(text);
  return Number(m?.[1] ?? NaN);
}

beforeAll(async () => {
  hub = await startTestHub({ port: await closedPort() });
  key = await hub.createKey();
  [homeA, homeB] = await Promise.all([
    signedInHome(hub, key, 'server-a'),
    signedInHome(hub, key, 'laptop-b'),
  ]);
  echo = await echoServer();
  ({ proc: exposer, tunnelPort } = await expose(homeA, 'echo', String(echo.port)));
  ({ proc: reacher, port: reachPort } = await reach(homeB, 'echo'));
});

afterAll(async () => {
  await cleanupAll();
  await echo.close();
});

describe('expose and reach', () => {
  it('lists the service online with its tunnel port, in the seed shape', async () => {
    const services = (await (
      await fetch(`${hub.url}/v1/services`, { headers: { 'x-api-key': key } })
    ).json()) as unknown[];
    expect(services).toEqual([
      expect.objectContaining({
        name: 'echo',
        targetPort: echo.port,
        tunnelPort,
        status: 'online',
        protocol: 'tcp',
        agentLabel: 'server-a',
      }),
    ]);
    const s = services[0] as { id: string; agentId: string; createdAt: string };
    expect(s.id).toMatch(/^svc_/);
    expect(s.agentId).toMatch(/^agent_/);
  });

  it('records the route in active-routes.json', () => {
    const routes = JSON.parse(
      readFileSync(join(homeB, '.connect', 'active-routes.json'), 'utf8'),
    ) as unknown[];
    expect(routes).toEqual([
      expect.objectContaining({ serviceName: 'echo', localPort: reachPort, pid: reacher.pid }),
    ]);
  });

  it('carries 100 MB each way through reach intact', async () => {
    const r = await roundTrip(reachPort, 100 * MB);
    expect(r.receivedBytes).toBe(100 * MB);
    expect(r.received).toBe(r.sent);
  });

  it('carries 100 MB each way through the direct tunnel port intact', async () => {
    const r = await roundTrip(tunnelPort, 100 * MB);
    expect(r.receivedBytes).toBe(100 * MB);
    expect(r.received).toBe(r.sent);
  });

  it('completes 200 concurrent connections through one reach port', async () => {
    const results = await Promise.all(
      Array.from({ length: 200 }, (_, i) => roundTrip(reachPort, 1000 + i * 997)),
    );
    for (const [i, r] of results.entries()) {
      expect(r.receivedBytes).toBe(1000 + i * 997);
      expect(r.received).toBe(r.sent);
    }
  });

  it('keeps half-close: the whole reply arrives after the client shut its write side', async () => {
    const server = await replyAfterEndServer(5 * MB);
    const { proc } = await expose(homeA, 'reply', String(server.port));
    const { proc: r, port } = await reach(homeB, 'reply');
    const result = await roundTrip(port, 3 * MB);
    expect(server.received()).toContain(result.sent);
    expect(result.receivedBytes).toBe(5 * MB);
    await Promise.all([proc.stop(), r.stop(), server.close()]);
  });

  it('delivers bytes a client sends before the far side is ready (client speaks first)', async () => {
    // Write immediately on connect and half-close at once: nothing may be lost while the stream opens.
    const payload = Buffer.from('hello before ready');
    const got = await new Promise<Buffer>((resolve, reject) => {
      const s = connect({ host: '127.0.0.1', port: reachPort, allowHalfOpen: true });
      s.end(payload);
      const chunks: Buffer[] = [];
      s.on('data', (d: Buffer) => chunks.push(d));
      s.on('end', () => resolve(Buffer.concat(chunks)));
      s.on('error', reject);
    });
    expect(got.toString()).toBe(payload.toString());
  });

  it('keeps the hub’s and agents’ memory bounded under a reader that stops reading', async () => {
    const fire = await firehoseServer();
    const { proc: ex } = await expose(homeA, 'fire', String(fire.port));
    const { proc: re, port } = await reach(homeB, 'fire');
    const client = connect({ host: '127.0.0.1', port });
    await new Promise((r) => client.once('connect', r));
    client.pause(); // never read
    let previous = -1;
    // Wait until the sender is stuck: what it wrote stops growing.
    for (let i = 0; i < 50 && fire.written() !== previous; i++) {
      previous = fire.written();
      await sleep(300);
    }
    await sleep(500);
    const window = 4 * MB;
    const hubBuffered = await hubMetric('pc_hub_buffered_bytes');
    expect(hubBuffered).toBeLessThanOrEqual(window + MB);
    expect(latestStats(re).bufferedBytes ?? 0).toBeLessThanOrEqual(window + MB);
    expect(latestStats(ex).bufferedBytes ?? 0).toBeLessThanOrEqual(window + MB);
    // The sender was stopped by flow control, not allowed to stream on forever.
    expect(fire.written()).toBeLessThan(64 * MB);
    client.destroy();
    await Promise.all([ex.stop(), re.stop(), fire.close()]);
  });

  it('refuses to expose a name another agent holds', async () => {
    const r = await runCli(['expose', 'echo', String(echo.port)], { home: homeB });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/already exposed by agent server-a/);
  });

  it('names the available services when reaching an unknown one', async () => {
    const r = await runCli(['reach', 'nope'], { home: homeB });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/no service named 'nope'[\s\S]*Available services: echo/);
  });

  it('checks the whole path with --check, and reports a dead target', async () => {
    const ok = await runCli(['reach', 'echo', '--check', '--json'], { home: homeB });
    expect(ok.code).toBe(0);
    expect(JSON.parse(ok.stdout)).toMatchObject({ name: 'echo', ok: true, latencyMs: expect.any(Number) });
    const dead = await closedPort();
    const { proc } = await expose(homeA, 'dead', String(dead));
    const bad = await runCli(['reach', 'dead', '--check'], { home: homeB });
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/dead does not answer: .*ECONNREFUSED/);
    await proc.stop();
    // Ctrl+C of a foreground expose takes the service offline.
    const after = (await (
      await fetch(`${hub.url}/v1/services/dead`, { headers: { 'x-api-key': key } })
    ).json()) as { status: string };
    expect(after.status).toBe('offline');
    const offline = await runCli(['reach', 'dead', '--check'], { home: homeB });
    expect(offline.code).toBe(1);
    expect(offline.stderr).toMatch(/dead is offline/);
  });

  it('serves a name given in capitals: names are case-insensitive, as the hub stores them', async () => {
    const { proc } = await expose(homeA, 'Mixed-Case', String(echo.port));
    expect(proc.stdout).toMatch(/Exposed mixed-case/);
    const check = await runCli(['reach', 'mixed-case', '--check'], { home: homeB });
    expect(check.stderr).toBe('');
    expect(check.code).toBe(0);
    await proc.stop();
  });

  it('auto-selects the next port when the asked one is taken', async () => {
    const { proc, port } = await reach(homeB, 'echo', reachPort);
    expect(port).toBeGreaterThan(reachPort);
    expect(proc.stdout).toMatch(/\(auto-selected\)/);
    const r = await roundTrip(port, 1000);
    expect(r.received).toBe(r.sent);
    await proc.stop();
  });
});

const psql = spawnSync('psql', ['--version']).status === 0;
const pgUp = await tcpReachable(5432);
if (!psql || !pgUp)
  console.log(
    `[skip] psql through reach: ${!psql ? 'psql is not installed' : 'no PostgreSQL on 127.0.0.1:5432'}`,
  );

describe.skipIf(!psql || !pgUp)('PostgreSQL through reach', () => {
  it('runs psql -c "select 1" through the other agent’s reach port', async () => {
    const { proc: ex } = await expose(homeA, 'pg', '127.0.0.1:5432');
    const { proc: re, port } = await reach(homeB, 'pg');
    const out = execFileSync(
      'psql',
      ['-h', '127.0.0.1', '-p', String(port), '-U', 'postgres', '-d', 'postgres', '-tAc', 'select 1'],
      {
        encoding: 'utf8',
        timeout: 15_000,
      },
    );
    expect(out.trim()).toBe('1');
    await Promise.all([ex.stop(), re.stop()]);
  });
});

describe('exposures handed to a running agent', () => {
  it('persists them, restores them after the agent restarts, lists and stops them', async () => {
    const home = await signedInHome(hub, key, 'always-on');
    const server = await echoServer();
    let agent = spawnCli(['up'], { home });
    await agent.waitForEvent('hub-connected');
    const exposed = await runCli(['expose', `localhost:${server.port}`, '--name', 'kept'], { home });
    expect(exposed.code).toBe(0);
    expect(exposed.stdout).toMatch(/Served by:\s+running agent \(pid \d+\)/);
    // The foreground `expose` has exited; the agent serves the service.
    const check = await runCli(['reach', 'kept', '--check'], { home: homeB });
    expect(check.code).toBe(0);

    expect(await agent.stop()).toBe(0);
    const offline = await runCli(['reach', 'kept', '--check'], { home: homeB });
    expect(offline.stderr).toMatch(/kept is offline/);
    agent = spawnCli(['up'], { home });
    await agent.waitForEvent('exposed', { where: (e) => e.name === 'kept' });
    expect(agent.stdout).toMatch(/Exposing kept → localhost:\d+/);
    expect((await runCli(['reach', 'kept', '--check'], { home: homeB })).code).toBe(0);

    const list = await runCli(['expose', 'list', '--json'], { home });
    expect(JSON.parse(list.stdout)).toEqual([
      expect.objectContaining({ name: 'kept', status: 'online', persisted: true }),
    ]);
    const stopped = await runCli(['expose', 'stop', 'kept'], { home });
    expect(stopped.code).toBe(0);
    await agent.waitForEvent('unexposed', { where: (e) => e.name === 'kept' });
    expect(agent.stdout).toContain('Stopped exposing kept');
    const gone = await fetch(`${hub.url}/v1/services/kept`, { headers: { 'x-api-key': key } });
    expect(gone.status).toBe(404);
    await agent.stop();
    await server.close();
  });
});

describe('connect up --config', () => {
  it('exposes the services a pconnect.yml lists, and reports a bad file with line and column', async () => {
    const home = await signedInHome(hub, key, 'from-config');
    const server = await echoServer();
    const dir = tempDir('pc-config-');
    const file = join(dir, 'agent.yml');
    writeFileSync(file, `expose:\n  - name: from-file\n    port: ${server.port}\n`);
    const agent = spawnCli(['up', '--config', file], { home });
    await agent.waitForEvent('exposed', { where: (e) => e.name === 'from-file' });
    expect(agent.stdout).toMatch(/Exposing from-file → localhost:\d+/);
    const check = await runCli(['reach', 'from-file', '--check'], { home: homeB });
    expect(check.code).toBe(0);
    await agent.stop();
    await server.close();

    writeFileSync(file, 'expose:\n  - name: x\n    port: 99999\n');
    const bad = await runCli(['up', '--config', file], { home });
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/agent\.yml:3:11: expose\[0\]\.port must be a port from 1 to 65535/);
  });
});

describe('faults', () => {
  it('survives kill -9 of the hub: the same reach port works again, no agent restarted', async () => {
    // A stream in flight when the hub dies ends (reset), it does not hang.
    const inflight = connect({ host: '127.0.0.1', port: reachPort });
    await new Promise((r) => inflight.once('connect', r));
    inflight.write('x');
    const inflightClosed = new Promise<void>((r) => inflight.once('close', () => r()));
    inflight.on('error', () => undefined);

    await hub.kill9();
    await inflightClosed;
    const offlineWhileDown = await tcpReachable(tunnelPort);
    expect(offlineWhileDown).toBe(false);

    hub = await startTestHub({ port: hub.port, dataDir: hub.dataDir, tunnelPorts: hub.tunnelPorts });
    const deadline = Date.now() + 20_000;
    let ok = false;
    while (!ok && Date.now() < deadline) {
      try {
        const r = await roundTrip(reachPort, 64 * 1024);
        ok = r.received === r.sent && r.receivedBytes === 64 * 1024;
      } catch {
        // not back yet
      }
      if (!ok) await sleep(250);
    }
    expect(ok).toBe(true);
    expect(exposer.child.exitCode).toBeNull();
    expect(reacher.child.exitCode).toBeNull();
    // The persisted service kept its tunnel port.
    const r = await roundTrip(tunnelPort, 64 * 1024);
    expect(r.received).toBe(r.sent);
  });
});
