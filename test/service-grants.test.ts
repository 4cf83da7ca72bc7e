/**
 * Per-service grants, end to end (real hub, agents in child processes with their own HOMEs): `expose --allow`
 * restricts who may reach a service; an agent left out gets one `[x]` line naming the service, and `reach --check`
 * exits non-zero; `expose grant` lets it in, `expose revoke` refuses its next connections; only the key that
 * registered the service's agent (or an admin key) may change the grants.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, createServer, type Server } from 'node:net';
import {
  cleanupAll,
  runCli,
  signedInHome,
  spawnCli,
  startTestHub,
  type CliProcess,
  type TestHub,
} from './helpers/harness.js';

let hub: TestHub;
let ownerKey: string;
let otherKey: string;
let homeOwner: string;
let homeLaptop: string;
let homeCi: string;
let exposer: CliProcess;
let echo: Server;

const REFUSED_LINE =
  '[x] access to staging-db refused: this agent is not granted (ask its owner: connect expose grant staging-db <label>)';

/** The public id of a key (`tok_<id>_<secret>`), what `keys list` shows and a grant may name. */
const keyIdOf = (key: string): string => key.split('_')[1] ?? '';

/** Sends `word` through a local port and resolves with what came back ('' when the connection was refused). */
function roundTrip(port: number, word: string): Promise<string> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port }, () => s.write(word));
    let text = '';
    s.on('data', (d: Buffer) => {
      text += d.toString();
      if (text.length >= word.length) s.end();
    });
    s.on('close', () => resolve(text));
    s.on('error', () => resolve(text));
  });
}

function check(home: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return runCli(['reach', 'staging-db', '--check'], { home });
}

function expose(
  home: string,
  args: string[],
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return runCli(['expose', ...args], { home });
}

beforeAll(async () => {
  hub = await startTestHub();
  ownerKey = await hub.createKey('default', ['--role', 'agent']);
  otherKey = await hub.createKey();
  echo = createServer((s) => {
    s.on('error', () => s.destroy());
    s.pipe(s);
  });
  await new Promise<void>((r) => echo.listen(0, '127.0.0.1', r));
  homeOwner = await signedInHome(hub, ownerKey, 'db-host');
  homeLaptop = await signedInHome(hub, otherKey, 'laptop');
  homeCi = await signedInHome(hub, otherKey, 'ci-box');
  const port = (echo.address() as { port: number }).port;
  exposer = spawnCli(['expose', 'staging-db', String(port), '--allow', 'laptop'], { home: homeOwner });
  await exposer.waitForEvent('exposed');
}, 60_000);

afterAll(async () => {
  await cleanupAll();
  echo.close();
});

describe('per-service grants', () => {
  it('shows the grants in GET /v1/services and `expose list`, the seed fields unchanged', async () => {
    const res = await fetch(`${hub.url}/v1/services`, { headers: { 'x-api-key': otherKey } });
    const [service] = (await res.json()) as Record<string, unknown>[];
    expect(service).toMatchObject({ name: 'staging-db', status: 'online', grants: ['laptop'] });
    for (const field of ['id', 'targetPort', 'tunnelPort', 'protocol', 'agentId', 'agentLabel', 'createdAt'])
      expect(service).toHaveProperty(field);
    const list = await expose(homeOwner, ['list']);
    expect(list.stdout).toMatch(/staging-db .*granted to laptop/);
  });

  it('lets a granted agent reach a real echo server', async () => {
    const reach = spawnCli(['reach', 'staging-db', '0'], { home: homeLaptop });
    const { localPort } = await reach.waitForEvent('reaching');
    expect(await roundTrip(localPort, 'hello through grants')).toBe('hello through grants');
    await reach.stop();
    expect((await check(homeLaptop)).code).toBe(0);
  }, 60_000);

  it('refuses an agent left out with one clear line, and `reach --check` exits non-zero', async () => {
    const r = await check(homeCi);
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n')).toEqual([REFUSED_LINE]);
    const reach = spawnCli(['reach', 'staging-db', '0'], { home: homeCi });
    const { localPort } = await reach.waitForEvent('reaching');
    expect(await roundTrip(localPort, 'let me in')).toBe('');
    const refused = await reach.waitForEvent('reach-refused');
    expect(refused.name).toBe('staging-db');
    await reach.stop();
    expect(reach.stdout + reach.stderr).toContain(REFUSED_LINE);
  }, 60_000);

  it('lets it in once granted, and refuses its new connections once revoked', async () => {
    const granted = await expose(homeOwner, ['grant', 'staging-db', 'ci-box']);
    expect(granted.code).toBe(0);
    expect(granted.stdout).toMatch(/staging-db may be reached only by its agent and: ci-box, laptop/);
    const reach = spawnCli(['reach', 'staging-db', '0'], { home: homeCi });
    const { localPort } = await reach.waitForEvent('reaching');
    expect(await roundTrip(localPort, 'granted now')).toBe('granted now');
    const revoked = await expose(homeOwner, ['revoke', 'staging-db', 'ci-box']);
    expect(revoked.code).toBe(0);
    // The same live reach session: its next OPEN is refused.
    expect(await roundTrip(localPort, 'after revoke')).toBe('');
    await reach.waitForEvent('reach-refused');
    await reach.stop();
    expect((await check(homeCi)).code).toBe(1);
    expect((await check(homeLaptop)).code).toBe(0);
  }, 60_000);

  it('grants by API key id: every agent of that key may reach it', async () => {
    const ciKey = await hub.createKey('default', ['--role', 'reach']);
    const home = await signedInHome(hub, ciKey, 'runner-7');
    expect((await check(home)).code).toBe(1);
    expect((await expose(homeOwner, ['grant', 'staging-db', keyIdOf(ciKey)])).code).toBe(0);
    expect((await check(home)).code).toBe(0);
  }, 60_000);

  it('refuses a key that did not register the service’s agent changing its grants; an admin key may', async () => {
    const agentKey = await hub.createKey('default', ['--role', 'agent']);
    const reachKey = await hub.createKey('default', ['--role', 'reach']);
    const intruder = await signedInHome(hub, agentKey, 'ci-box-2');
    const r = await expose(intruder, ['grant', 'staging-db', 'ci-box-2']);
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n')[0]).toMatch(
      /an agent key may not change the grants of the services of agent agent_/,
    );
    for (const [key, status, path] of [
      [agentKey, 403, 'grants'],
      [reachKey, 403, 'grants'],
      [agentKey, 403, 'grants/revoke'],
      [otherKey, 200, 'grants'],
    ] as const) {
      const res = await fetch(`${hub.url}/v1/services/staging-db/${path}`, {
        method: 'POST',
        headers: { 'x-api-key': key, 'content-type': 'application/json' },
        body: JSON.stringify({ grantees: ['ci-box-2'] }),
      });
      expect(res.status).toBe(status);
      if (status === 403) expect(await res.json()).toMatchObject({ code: 'FORBIDDEN' });
    }
    expect((await check(intruder)).code).toBe(0); // the admin key granted it
  }, 60_000);

  it('refuses revoking the last grant without --all (that opens the service), and --all does', async () => {
    const view = (await (
      await fetch(`${hub.url}/v1/services/staging-db`, { headers: { 'x-api-key': otherKey } })
    ).json()) as { grants: string[] };
    const last = await expose(homeOwner, ['revoke', 'staging-db', ...view.grants]);
    expect(last.code).toBe(1);
    expect(last.stderr).toMatch(
      /revoking the last grant would open 'staging-db' to every key of the workspace/,
    );
    expect((await check(homeCi)).code).toBe(1);
    const all = await expose(homeOwner, ['revoke', 'staging-db', '--all']);
    expect(all.code).toBe(0);
    expect(all.stdout).toMatch(/staging-db has no grants: every key of the workspace may reach it/);
    expect((await check(homeCi)).code).toBe(0);
  }, 60_000);
});
