/**
 * Expiring shares, end to end (real hub, agents in child processes, the share's user in a HOME with no
 * credentials at all): a share token reaches its one service, no other; after expiry or revoke new reaches fail
 * with one line and a live stream ends within 5 s.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import {
  cleanupAll,
  runCli,
  signedInHome,
  spawnCli,
  startTestHub,
  tempDir,
  type CliProcess,
  type TestHub,
} from './helpers/harness.js';

/** What the issue promises: a live stream ends within this of revoke or expiry. */
const END_WITHIN_MS = 5000;

let hub: TestHub;
let ownerHome: string;
let echo: Server;
const exposers: CliProcess[] = [];

async function listen(server: Server): Promise<number> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return (server.address() as { port: number }).port;
}

async function share(
  args: string[],
  home = ownerHome,
): Promise<{ id: string; token: string; expiresAt: string }> {
  const r = await runCli(['share', ...args, '--json'], { home });
  if (r.code !== 0) throw new Error(`share failed: ${r.stdout}${r.stderr}`);
  return JSON.parse(r.stdout) as { id: string; token: string; expiresAt: string };
}

/** `connect reach <name> 0 --token <token>` from a HOME with no sign-in. */
function reachWithToken(name: string, token: string): { proc: CliProcess; home: string } {
  const home = tempDir('pc-share-user-');
  return { proc: spawnCli(['reach', name, '0', '--token', token], { home }), home };
}

/** A connection through the local port that has echoed one round trip. */
async function liveStream(port: number): Promise<Socket> {
  const socket = connect({ host: '127.0.0.1', port });
  socket.on('error', () => undefined);
  await new Promise<void>((resolve, reject) => {
    socket.once('data', (d: Buffer) => (d.toString() === 'ping' ? resolve() : reject(new Error(String(d)))));
    socket.write('ping');
  });
  return socket;
}

/** Milliseconds until the socket is closed (by the path through the hub ending). */
function closedAfter(socket: Socket, since: number): Promise<number> {
  return new Promise((resolve) => {
    if (socket.destroyed) return resolve(Date.now() - since);
    socket.once('close', () => resolve(Date.now() - since));
  });
}

beforeAll(async () => {
  hub = await startTestHub();
  const key = await hub.createKey();
  ownerHome = await signedInHome(hub, key, 'owner');
  echo = createServer((s) => {
    s.on('error', () => s.destroy());
    s.pipe(s);
  });
  const echoPort = await listen(echo);
  for (const name of ['staging-db', 'other-db']) {
    const proc = spawnCli(['expose', name, String(echoPort)], { home: ownerHome });
    await proc.waitForEvent('exposed');
    exposers.push(proc);
  }
}, 60_000);

afterAll(async () => {
  await cleanupAll();
  echo.close();
});

describe('connect share', () => {
  it('reaches the shared service from a machine with no credentials, and no other service', async () => {
    const created = await share(['staging-db', '--expires', '1h', '--to', 'alice']);
    expect(created.token).toMatch(/^pcs_[A-Za-z0-9_-]+\.shr_[a-f0-9]{16}\.[A-Za-z0-9_-]{43}$/);
    const { proc, home } = reachWithToken('staging-db', created.token);
    const { localPort } = await proc.waitForEvent('reaching');
    const socket = await liveStream(localPort);
    socket.destroy();
    await proc.stop();
    expect(existsSync(join(home, '.connect', 'credentials.json'))).toBe(false);

    const other = reachWithToken('other-db', created.token).proc;
    expect(await other.exited).toBe(1);
    expect(other.stderr + other.stdout).toMatch(
      /access to 'other-db' refused: this share token reaches only 'staging-db'/,
    );
    // The token is no API key: /v1 refuses it.
    const api = await fetch(`${hub.url}/v1/services`, { headers: { 'x-api-key': created.token } });
    expect(api.status).toBe(401);

    const list = await runCli(['share', 'list', '--json'], { home: ownerHome });
    expect(JSON.parse(list.stdout)).toContainEqual(
      expect.objectContaining({ id: created.id, service: 'staging-db', to: 'alice', state: 'active' }),
    );
  }, 60_000);

  it('ends a live stream within 5 s of expiry, and refuses new reaches with one line', async () => {
    const created = await share(['staging-db', '--expires', '2s']);
    const { proc } = reachWithToken('staging-db', created.token);
    const { localPort } = await proc.waitForEvent('reaching');
    const socket = await liveStream(localPort);
    const expiry = Date.parse(created.expiresAt);
    const ms = await closedAfter(socket, expiry);
    expect(ms).toBeLessThan(END_WITHIN_MS);
    expect(await proc.exited).toBe(1);

    const late = reachWithToken('staging-db', created.token).proc;
    expect(await late.exited).toBe(1);
    const output = (late.stderr + late.stdout).trim();
    expect(output).toMatch(/share shr_[a-f0-9]{16} expired at/);
    expect(output).not.toMatch(/\n\s+at /); // one line, no stack
  }, 60_000);

  it('ends a live stream within 5 s of `share revoke`, and refuses new reaches', async () => {
    const created = await share(['staging-db', '--expires', '1h']);
    const { proc } = reachWithToken('staging-db', created.token);
    const { localPort } = await proc.waitForEvent('reaching');
    const socket = await liveStream(localPort);
    const revoked = await runCli(['share', 'revoke', created.id], { home: ownerHome });
    expect(revoked.code).toBe(0);
    const ms = await closedAfter(socket, Date.now());
    expect(ms).toBeLessThan(END_WITHIN_MS);
    expect(await proc.exited).toBe(1);

    const late = reachWithToken('staging-db', created.token).proc;
    expect(await late.exited).toBe(1);
    expect(late.stderr + late.stdout).toMatch(/share shr_[a-f0-9]{16} was revoked/);
    const list = await runCli(['share', 'list', '--json'], { home: ownerHome });
    expect(JSON.parse(list.stdout)).toContainEqual(
      expect.objectContaining({ id: created.id, state: 'revoked' }),
    );
  }, 60_000);

  it('refuses a forged token, a reach key sharing, and an expiry past the maximum, each with one line', async () => {
    const real = await share(['staging-db', '--expires', '1h']);
    const forged = real.token.slice(0, -43) + 'A'.repeat(43);
    const f = reachWithToken('staging-db', forged).proc;
    expect(await f.exited).toBe(1);
    expect(f.stderr + f.stdout).toMatch(/unknown or invalid share token/);

    const reachHome = await signedInHome(hub, await hub.createKey('default', ['--role', 'reach']), 'r');
    const byReach = await runCli(['share', 'staging-db'], { home: reachHome });
    expect(byReach.code).toBe(1);
    expect(byReach.stderr).toMatch(/a reach key may not share services/);

    const tooLong = await runCli(['share', 'staging-db', '--expires', '8d'], { home: ownerHome });
    expect(tooLong.code).toBe(1);
    expect(tooLong.stderr).toMatch(/a share lives at most 7d/);
  }, 60_000);
});
