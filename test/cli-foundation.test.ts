import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  cleanupAll,
  closedPort,
  runCli,
  signedInHome,
  spawnCli,
  startTestHub,
  tempDir,
  type TestHub,
} from './helpers/harness.js';

let hub: TestHub;
let key: string;

beforeAll(async () => {
  hub = await startTestHub();
  key = await hub.createKey('acme');
});
afterAll(cleanupAll);

/** A failure must be one readable line (plus an optional hint line), exit 1, never a stack trace. */
function expectCleanFailure(
  r: { code: number | null; stdout: string; stderr: string },
  pattern: RegExp,
): void {
  expect(r.code).toBe(1);
  expect(r.stderr).toMatch(pattern);
  expect(r.stderr + r.stdout).not.toMatch(/\n\s+at .*\(|node:internal|Error: .*\n.*at /);
  expect(r.stderr.trim().split('\n').length).toBeLessThanOrEqual(3);
}

describe('connect hub keys', () => {
  it('creates a key printed once, lists it without the secret, and revokes it', async () => {
    const created = await runCli(
      ['hub', 'keys', 'create', '--json', '--workspace', 'keys-test', '--data-dir', hub.dataDir],
      { home: hub.home },
    );
    expect(created.code).toBe(0);
    const { key: newKey, workspace } = JSON.parse(created.stdout) as { key: string; workspace: string };
    expect(workspace).toBe('keys-test');
    expect(newKey).toMatch(/^tok_[a-f0-9]{16}_/);
    const listed = await runCli(['hub', 'keys', 'list', '--json', '--data-dir', hub.dataDir], {
      home: hub.home,
    });
    expect(listed.stdout).not.toContain(newKey.slice(22));
    expect(listed.stdout).not.toMatch(/hash/);
    const id = /^tok_([a-f0-9]{16})_/.exec(newKey)?.[1] ?? '';
    expect(JSON.parse(listed.stdout)).toEqual(
      expect.arrayContaining([expect.objectContaining({ id, workspace: 'keys-test', revokedAt: null })]),
    );
    const ok = await fetch(`${hub.url}/v1/services`, { headers: { 'x-api-key': newKey } });
    expect(ok.status).toBe(200);
    const revoked = await runCli(['hub', 'keys', 'revoke', id, '--data-dir', hub.dataDir], {
      home: hub.home,
    });
    expect(revoked.code).toBe(0);
    const after = await fetch(`${hub.url}/v1/services`, { headers: { 'x-api-key': newKey } });
    expect(after.status).toBe(401);
    expectCleanFailure(
      await runCli(['hub', 'keys', 'revoke', id, '--data-dir', hub.dataDir], { home: hub.home }),
      /no active API key/,
    );
  });

  it('refuses a bad workspace name', async () => {
    expectCleanFailure(
      await runCli(['hub', 'keys', 'create', '--workspace', 'bad name!', '--data-dir', hub.dataDir], {
        home: hub.home,
      }),
      /invalid workspace name/,
    );
  });
});

describe('connect up --auth-only and whoami', () => {
  it('signs in, saves credentials 0600, and whoami reports the identity', async () => {
    const home = await signedInHome(hub, key, 'laptop');
    const file = join(home, '.connect', 'credentials.json');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const saved = JSON.parse(readFileSync(file, 'utf8')) as {
      hubUrl: string;
      agentId: string;
      workspace: string;
    };
    expect(saved).toMatchObject({ hubUrl: hub.url, workspace: 'acme' });
    expect(saved.agentId).toMatch(/^agent_/);
    const who = await runCli(['whoami', '--json'], { home });
    expect(who.code).toBe(0);
    expect(JSON.parse(who.stdout)).toMatchObject({
      agentId: saved.agentId,
      label: 'laptop',
      workspace: 'acme',
      hubUrl: hub.url,
      hubReachable: true,
      online: false,
    });
    const services = await fetch(`${hub.url}/v1/services`, { headers: { 'x-api-key': key } });
    expect(await services.json()).toEqual([]);
  });

  it('signs in with PRIVATECONNECT_TOKEN and the hub from CONNECT_HUB_URL', async () => {
    const home = tempDir('pc-env-');
    const r = await runCli(['up', '--auth-only'], {
      home,
      env: { PRIVATECONNECT_TOKEN: key, CONNECT_HUB_URL: hub.url },
    });
    expect(r.code).toBe(0);
    // The saved hub is used afterwards even when CONNECT_HUB_URL names another one.
    const who = await runCli(['whoami', '--json'], { home, env: { CONNECT_HUB_URL: 'http://127.0.0.1:1' } });
    expect(JSON.parse(who.stdout)).toMatchObject({ hubUrl: hub.url, hubReachable: true });
  });

  it('keeps the same agent id on a second sign-in', async () => {
    const home = await signedInHome(hub, key, 'stable');
    const first = JSON.parse(readFileSync(join(home, '.connect', 'credentials.json'), 'utf8')) as {
      agentId: string;
    };
    const again = await runCli(['up', '--auth-only'], { home });
    expect(again.code).toBe(0);
    const second = JSON.parse(readFileSync(join(home, '.connect', 'credentials.json'), 'utf8')) as {
      agentId: string;
    };
    expect(second.agentId).toBe(first.agentId);
  });

  it('fails cleanly on an unreachable hub, a bad URL, a wrong key and no key', async () => {
    const home = tempDir('pc-bad-');
    expectCleanFailure(
      await runCli(
        ['up', '--auth-only', '--hub', `http://127.0.0.1:${await closedPort()}`, '--api-key', key],
        { home },
      ),
      /cannot reach the hub.*connection refused/,
    );
    expectCleanFailure(
      await runCli(['up', '--auth-only', '--hub', 'not a url', '--api-key', key], { home }),
      /invalid hub URL/,
    );
    expectCleanFailure(
      await runCli(['up', '--auth-only', '--hub', 'ftp://x', '--api-key', key], { home }),
      /invalid hub URL/,
    );
    expectCleanFailure(
      await runCli(['up', '--auth-only', '--hub', hub.url, '--api-key', 'tok_nope'], { home }),
      /refused the API key/,
    );
    expectCleanFailure(await runCli(['up', '--auth-only', '--hub', hub.url], { home }), /no API key/);
  });

  it('explains a corrupt credentials file', async () => {
    const home = await signedInHome(hub, key, 'corrupt');
    writeFileSync(join(home, '.connect', 'credentials.json'), '{"hubUrl": "http://x", ');
    expectCleanFailure(
      await runCli(['whoami'], { home }),
      /credentials file .* not valid JSON[\s\S]*connect up/,
    );
  });

  it('says to sign in when there is no identity', async () => {
    expectCleanFailure(
      await runCli(['whoami'], { home: tempDir('pc-none-') }),
      /not signed in[\s\S]*connect up/,
    );
  });
});

describe('connect up in the foreground', () => {
  it('logs the seed lines, shows online in whoami, and retries visibly while the hub is away', async () => {
    const own = await startTestHub({ port: await closedPort() });
    const ownKey = await own.createKey();
    const home = await signedInHome(own, ownKey, 'foreground');
    const agent = spawnCli(['up'], { home });
    await agent.waitForEvent('hub-connected');
    expect(agent.stdout).toMatch(/\[ok\] Registered with hub[\s\S]*\[ok\] Connected to hub via WebSocket/);
    expect(agent.stdout).toMatch(/^\[\d\d:\d\d:\d\d\] 🚀 Starting Private Connect Agent\.\.\./m);
    const who = await runCli(['whoami', '--json'], { home });
    expect(JSON.parse(who.stdout)).toMatchObject({ online: true, hubReachable: true });

    // A second process of the same identity (a reach, a proxy) must not displace this session.
    await own.stop();
    await agent.waitForEvent('hub-reconnecting');
    expect(agent.stderr).toMatch(/reconnecting in \d+\.\ds/);
    const restarted = await startTestHub({
      port: own.port,
      dataDir: own.dataDir,
      tunnelPorts: own.tunnelPorts,
    });
    await agent.waitForEvent('hub-connected', { nth: 2, timeoutMs: 30_000 });
    expect(agent.stdout).toMatch(/Connected to hub via WebSocket[\s\S]*Connected to hub via WebSocket/);
    expect(agent.child.exitCode).toBeNull();
    await agent.stop();
    await restarted.stop();
  });

  it('starts with the saved identity when the hub is down, then connects when it comes back', async () => {
    const own = await startTestHub({ port: await closedPort() });
    const ownKey = await own.createKey();
    const home = await signedInHome(own, ownKey, 'late-hub');
    await own.stop();
    const agent = spawnCli(['up'], { home });
    await agent.waitForEvent('sign-in-deferred');
    expect(agent.stderr).toMatch(/cannot reach the hub[\s\S]*retrying/);
    const restarted = await startTestHub({
      port: own.port,
      dataDir: own.dataDir,
      tunnelPorts: own.tunnelPorts,
    });
    await agent.waitForEvent('hub-connected', { timeoutMs: 30_000 });
    expect(agent.stdout).toContain('[ok] Connected to hub via WebSocket');
    await agent.stop();
    await restarted.stop();
  });
});

describe('bad flags', () => {
  // Each refused before it needs a hub or a sign-in: one line, exit 1, nothing started or written.
  it.each([
    [['proxy', 'start', '--port', 'abc'], /invalid proxy port 'abc'/],
    [['proxy', 'start', '--port', '70000'], /invalid proxy port '70000'/],
    [['reach', 'db', '70000'], /invalid local port '70000'/],
    [['expose', 'db', '99999'], /invalid port '99999'/],
    [['expose', 'db', '5432', '--protocol', 'bogus'], /invalid --protocol 'bogus'/],
    [['expose', '5432'], /name the service: connect expose 5432 --name <name>/],
    [['daemon', 'logs', '-n', 'abc'], /invalid --lines 'abc'/],
    [['daemon', 'logs', '-n', '0'], /invalid --lines '0'/],
    [['dev', '-f', '/nonexistent/pconnect.yml'], /pconnect\.yml does not exist/],
    [['up', '--config', '/nonexistent/pconnect.yml'], /pconnect\.yml does not exist/],
    [['discover', '--ports', '0'], /invalid --ports entry '0'/],
  ])('refuses %j with one line', async (args, pattern) => {
    expectCleanFailure(await runCli(args, { home: tempDir('pc-flags-') }), pattern);
  });

  it('reports malformed YAML given to up --config with its line and column', async () => {
    const home = tempDir('pc-flags-');
    const file = join(home, 'bad.yml');
    writeFileSync(file, 'hub: http://x\nexpose:\n  - name: a\n    port: [1,\n');
    expectCleanFailure(await runCli(['up', '--config', file], { home }), /bad\.yml:5:1: /);
  });

  it('rejects bad ports and ranges for hub start with one line', async () => {
    const home = tempDir('pc-flags-');
    expectCleanFailure(await runCli(['hub', 'start', '--port', 'abc'], { home }), /invalid --port 'abc'/);
    expectCleanFailure(await runCli(['hub', 'start', '--port', '70000'], { home }), /invalid --port/);
    expectCleanFailure(
      await runCli(['hub', 'start', '--tunnel-ports', '10-5'], { home }),
      /10 is greater than 5/,
    );
    // 192.0.2.1 (TEST-NET-1) is never an address of this machine: refused at start, not at the first expose.
    expectCleanFailure(
      await runCli(['hub', 'start', '--port', '0', '--data-dir', home, '--tunnel-host', '192.0.2.1'], {
        home,
      }),
      /cannot listen on --tunnel-host 192\.0\.2\.1: EADDRNOTAVAIL/,
    );
    expectCleanFailure(
      await runCli(['hub', 'start', '--tls-cert', 'x.pem'], { home }),
      /--tls-cert and --tls-key/,
    );
    const unknown = await runCli(['up', '--bogus'], { home });
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/unknown option '--bogus'/);
  });

  it('reports a port already in use', async () => {
    expectCleanFailure(
      await runCli(['hub', 'start', '--port', String(hub.port), '--data-dir', tempDir('pc-dup-')], {
        home: tempDir('pc-dup-home-'),
      }),
      /cannot listen on 127\.0\.0\.1:\d+/,
    );
  });
});
