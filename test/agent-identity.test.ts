/**
 * Agent credentials, end to end (real hub, agents in child processes with their own HOMEs): a second key of the
 * same workspace cannot connect as the production agent (whose id GET /v1/services shows to anyone) nor take its
 * service over; and an identity saved before agent secrets is renewed by `connect up` with a clear line.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, createServer, type Server } from 'node:net';
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
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

let hub: TestHub;
let prodKey: string;
let ciKey: string;
let homeProd: string;
let prodExposer: CliProcess;
let prodServer: Server;
let evilServer: Server;
let prodAgentId = '';

/** A TCP server that greets every connection with `word` and a newline. */
async function greeter(word: string): Promise<{ server: Server; port: number }> {
  const server = createServer((s) => {
    s.on('error', () => s.destroy());
    s.end(`${word}\n`);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, port: (server.address() as { port: number }).port };
}

/** The first line a local port answers with. */
function greeting(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port });
    let text = '';
    s.on('data', (d: Buffer) => (text += d.toString()));
    s.on('end', () => resolve(text.trim()));
    s.on('error', reject);
  });
}

/** A HOME whose credentials say agent `agentId` with `apiKey` (what an attacker can write for any public id). */
function forgedHome(apiKey: string, agentId: string, agentSecret?: string): string {
  const home = tempDir('pc-forged-');
  mkdirSync(join(home, '.connect'), { recursive: true });
  writeFileSync(
    join(home, '.connect', 'credentials.json'),
    JSON.stringify({
      hubUrl: hub.url,
      apiKey,
      agentId,
      ...(agentSecret && { agentSecret }),
      label: 'ci-runner',
      name: null,
      workspace: 'default',
      createdAt: new Date().toISOString(),
    }),
    { mode: 0o600 },
  );
  return home;
}

/** `connect expose <name> <evil port>` from `home`: the exit code and what it printed. */
async function exposeFrom(home: string, name = 'prod-db'): Promise<{ code: number | null; output: string }> {
  const port = (evilServer.address() as { port: number }).port;
  const proc = spawnCli(['expose', name, String(port)], { home });
  // 'exposed' means the hub took the attacker's exposure; otherwise the process exits with its one line.
  const exposed = await proc.waitForEvent('exposed', { timeoutMs: 15_000 }).then(
    () => true,
    () => false,
  );
  if (exposed) await proc.stop('SIGKILL');
  return { code: exposed ? 0 : await proc.exited, output: proc.stdout + proc.stderr };
}

/** What `connect reach prod-db` from a machine signed in with the production key gets. */
async function reachProd(): Promise<string> {
  const home = await signedInHome(hub, prodKey, 'laptop');
  const proc = spawnCli(['reach', 'prod-db', '0'], { home });
  const { localPort } = await proc.waitForEvent('reaching');
  try {
    return await greeting(localPort);
  } finally {
    await proc.stop();
  }
}

beforeAll(async () => {
  hub = await startTestHub();
  prodKey = await hub.createKey();
  ciKey = await hub.createKey(); // a second key of the same workspace, created the way the README shows
  ({ server: prodServer } = await greeter('prod'));
  ({ server: evilServer } = await greeter('evil'));
  homeProd = await signedInHome(hub, prodKey, 'prod-server');
  prodExposer = spawnCli(['expose', 'prod-db', String((prodServer.address() as { port: number }).port)], {
    home: homeProd,
  });
  await prodExposer.waitForEvent('exposed');
  const services = (await (
    await fetch(`${hub.url}/v1/services`, { headers: { 'x-api-key': ciKey } })
  ).json()) as { name: string; agentId: string }[];
  prodAgentId = services.find((s) => s.name === 'prod-db')?.agentId ?? '';
  expect(prodAgentId).toMatch(/^agent_/);
}, 60_000);

afterAll(async () => {
  await cleanupAll();
  prodServer.close();
  evilServer.close();
});

describe('agent impersonation', () => {
  it('saves the agent secret with the identity, 0600', () => {
    const file = join(homeProd, '.connect', 'credentials.json');
    const saved = JSON.parse(readFileSync(file, 'utf8')) as { agentSecret?: string };
    expect(saved.agentSecret).toMatch(/^as_[A-Za-z0-9_-]{43}$/);
    expect(statSync(file).mode & 0o777).toBe(0o600);
  });

  it('refuses another key of the workspace connecting as the production agent by its public id', async () => {
    const noSecret = await exposeFrom(forgedHome(ciKey, prodAgentId));
    expect(noSecret.code).toBe(1);
    expect(noSecret.output).toMatch(/missing or wrong secret for agent agent_/);
    const guessed = await exposeFrom(forgedHome(ciKey, prodAgentId, `as_${'A'.repeat(43)}`));
    expect(guessed.code).toBe(1);
    expect(guessed.output).toMatch(/missing or wrong secret for agent agent_/);
    expect(await reachProd()).toBe('prod');
  }, 60_000);

  it('refuses an agent key acting for an agent another key registered, even with its secret', async () => {
    const agentKey = await hub.createKey('default', ['--role', 'agent']);
    const { agentSecret } = JSON.parse(
      readFileSync(join(homeProd, '.connect', 'credentials.json'), 'utf8'),
    ) as { agentSecret: string };
    const leaked = await exposeFrom(forgedHome(agentKey, prodAgentId, agentSecret));
    expect(leaked.code).toBe(1);
    expect(leaked.output).toMatch(/an agent key may not connect as agent agent_/);
    const patch = await fetch(`${hub.url}/v1/agents/${prodAgentId}`, {
      method: 'PATCH',
      headers: { 'x-api-key': agentKey, 'content-type': 'application/json' },
      body: JSON.stringify({ label: 'owned' }),
    });
    expect(patch.status).toBe(403);
    expect(await patch.json()).toMatchObject({ code: 'FORBIDDEN' });
  }, 60_000);

  it('refuses an agent key removing the production service to expose its own under that name', async () => {
    const agentKey = await hub.createKey('default', ['--role', 'agent']);
    const removed = await fetch(`${hub.url}/v1/services/prod-db`, {
      method: 'DELETE',
      headers: { 'x-api-key': agentKey },
    });
    expect(removed.status).toBe(403);
    expect(await removed.json()).toMatchObject({
      code: 'FORBIDDEN',
      message: expect.stringMatching(/an agent key may not delete the services of agent agent_/),
    });
    const own = await exposeFrom(await signedInHome(hub, agentKey, 'ci-own'));
    expect(own.code).toBe(1);
    expect(own.output).toMatch(/already exposed by agent prod-server/);
    expect(await reachProd()).toBe('prod');
  }, 60_000);

  it('refuses a reach key exposing anything', async () => {
    const reachKey = await hub.createKey('default', ['--role', 'reach']);
    const home = await signedInHome(hub, reachKey, 'reach-only');
    const r = await exposeFrom(home, 'side-door');
    expect(r.code).toBe(1);
    expect(r.output).toMatch(/a reach key may not expose services/);
  }, 60_000);
});

describe('keys create and keys list', () => {
  it('shows each key’s role, services and expiry, and refuses a bad role or duration with one line', async () => {
    const where = ['--data-dir', hub.dataDir];
    const created = await runCli(
      [
        'hub',
        'keys',
        'create',
        '--json',
        '--role',
        'reach',
        '--services',
        'Prod-DB,cache',
        '--expires',
        '2h',
        ...where,
      ],
      { home: hub.home },
    );
    expect(created.code).toBe(0);
    const json = JSON.parse(created.stdout) as { role: string; services: string[]; expiresAt: string };
    expect(json).toMatchObject({ role: 'reach', services: ['prod-db', 'cache'] });
    expect(Date.parse(json.expiresAt) - Date.now()).toBeGreaterThan(7000_000);
    const list = await runCli(['hub', 'keys', 'list', ...where], { home: hub.home });
    expect(list.stdout).toContain(`reach (prod-db, cache) until ${json.expiresAt}`);
    expect(list.stdout).toMatch(/ active {2}admin$/m);
    for (const [flag, value, pattern] of [
      ['--role', 'root', /invalid --role 'root': use one of admin, agent, reach/],
      ['--expires', 'soon', /invalid --expires 'soon'/],
      ['--services', 'a,,b', /invalid --services 'a,,b'/],
    ] as const) {
      const r = await runCli(['hub', 'keys', 'create', flag, value, ...where], { home: hub.home });
      expect(r.code).toBe(1);
      expect(r.stderr.trim().split('\n')[0]).toMatch(pattern);
    }
  }, 60_000);
});

describe('an identity saved before agent secrets', () => {
  it('is registered again by `connect up` with one clear line', async () => {
    const home = await signedInHome(hub, prodKey, 'old-box');
    const file = join(home, '.connect', 'credentials.json');
    const saved = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
    delete saved.agentSecret;
    writeFileSync(file, JSON.stringify(saved), { mode: 0o600 });
    const up = spawnCli(['up'], { home });
    const renewed = await up.waitForEvent('identity-renewed');
    expect(renewed.oldAgentId).toBe(saved.agentId);
    await up.waitForEvent('hub-connected');
    expect(up.stdout + up.stderr).toMatch(/has no agent secret .*registered this machine again as agent_/);
    await up.stop();
    const after = JSON.parse(readFileSync(file, 'utf8')) as { agentId: string; agentSecret?: string };
    expect(after.agentId).toBe(renewed.agentId);
    expect(after.agentSecret).toMatch(/^as_/);
    const again = await runCli(['whoami', '--json'], { home });
    expect(again.code).toBe(0);
  }, 60_000);
});
