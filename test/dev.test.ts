/**
 * `connect dev` end to end: a hub, agent A exposing services, agent B running `connect dev` from a project folder
 * (separate HOMEs, real processes). Seed 000, "Reach Multiple Services".
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import http from 'node:http';
import net from 'node:net';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  cleanupAll,
  runCli,
  signedInHome,
  spawnCli,
  startTestHub,
  tempDir,
  type TestHub,
} from './helpers/harness.js';
import { freePort, freePorts, request } from './proxy-helpers.js';

let hub: TestHub;
let homeA: string;
let homeB: string;
const servers: { close(): void }[] = [];

function serve(text: string): Promise<number> {
  const s = http.createServer((_req, res) => res.end(text));
  servers.push(s);
  return new Promise((resolve) =>
    s.listen(0, '127.0.0.1', () => resolve((s.address() as { port: number }).port)),
  );
}

function project(yml: string): string {
  const dir = tempDir('pc-project-');
  writeFileSync(join(dir, 'pconnect.yml'), yml);
  return dir;
}

const activeRoutes = (): { serviceName: string; localPort: number }[] => {
  try {
    return JSON.parse(readFileSync(join(homeB, '.connect', 'active-routes.json'), 'utf8')) as {
      serviceName: string;
      localPort: number;
    }[];
  } catch {
    return [];
  }
};

beforeAll(async () => {
  hub = await startTestHub();
  const key = await hub.createKey();
  [homeA, homeB] = await Promise.all([signedInHome(hub, key, 'staging'), signedInHome(hub, key, 'laptop')]);
  const ports = await Promise.all([serve('db'), serve('redis'), serve('api')]);
  const names = ['staging-db', 'staging-redis', 'staging-api'];
  const exposes = names.map((n, i) => spawnCli(['expose', n, String(ports[i])], { home: homeA }));
  await Promise.all(exposes.map((p) => p.waitForEvent('exposed')));
});

afterAll(async () => {
  for (const s of servers) s.close();
  await cleanupAll();
});

describe('connect dev', () => {
  it('reaches three services at once and prints the seed screen; Ctrl+C disconnects all and removes the routes', async () => {
    const [p1 = 0, p2 = 0, p3 = 0] = await freePorts(3);
    const dir = project(
      `services:\n  - name: staging-db\n    port: ${p1}\n  - name: staging-redis\n    port: ${p2}\n  - name: staging-api\n    port: ${p3}\n`,
    );
    // Found from a subfolder: the nearest parent's pconnect.yml.
    const sub = join(dir, 'src', 'app');
    mkdirSync(sub, { recursive: true });
    const dev = spawnCli(['dev'], { home: homeB, cwd: sub });
    await dev.waitFor(/Press Ctrl\+C/);
    expect(dev.stdout).toBe(
      [
        '🚀 Private Connect Dev Mode',
        '',
        '  Config: ../../pconnect.yml',
        `  Hub:    ${hub.url}`,
        '',
        '  Connecting to services...',
        '',
        '  [ok] 3 service(s) connected:',
        '',
        `    staging-db localhost:${p1}`,
        `    staging-redis localhost:${p2}`,
        `    staging-api localhost:${p3}`,
        '',
        '  Press Ctrl+C to disconnect all services',
        '',
      ].join('\n'),
    );
    expect((await request(p3, `localhost:${p3}`)).body).toBe('api');
    expect((await request(p1, `localhost:${p1}`)).body).toBe('db');
    expect(
      activeRoutes()
        .map((r) => r.serviceName)
        .sort(),
    ).toEqual(['staging-api', 'staging-db', 'staging-redis']);

    dev.child.kill('SIGINT');
    expect(await dev.exited).toBe(0);
    expect(dev.stdout).toContain('Disconnected');
    expect(activeRoutes()).toEqual([]);
    const closed = await new Promise<boolean>((resolve) => {
      const s = net.connect(p1, '127.0.0.1');
      s.once('connect', () => (s.destroy(), resolve(false)));
      s.once('error', () => resolve(true));
    });
    expect(closed).toBe(true);
  });

  it('auto-selects a taken port and lists an unknown name as failed while the others connect', async () => {
    const blocker = net.createServer();
    servers.push(blocker);
    const taken = await new Promise<number>((resolve) =>
      blocker.listen(0, '127.0.0.1', () => resolve((blocker.address() as { port: number }).port)),
    );
    const free = await freePort();
    const dir = project(
      `hub: ${hub.url}\nservices:\n  - name: staging-db\n    port: ${free}\n  - name: staging-api\n    port: ${taken}\n  - name: staging-nope\n    port: 6379\n`,
    );
    const dev = spawnCli(['dev'], { home: homeB, cwd: dir });
    await dev.waitFor(/Press Ctrl\+C/);
    const out = dev.stdout;
    expect(out).toContain('  [ok] 2 service(s) connected:');
    expect(out).toContain(`    staging-db localhost:${free}\n`);
    const m = / {4}staging-api localhost:(\d+) \(auto-selected: (\d+) is in use\)/.exec(out);
    expect(m).not.toBeNull();
    expect(Number(m?.[2])).toBe(taken);
    const chosen = Number(m?.[1]);
    expect(chosen).not.toBe(taken);
    expect(out).toContain('  [x] 1 service(s) failed:');
    expect(out).toMatch(
      / {4}staging-nope: no service named 'staging-nope' at the hub \(available: staging-api, staging-db, staging-redis\)/,
    );
    expect((await request(chosen, `localhost:${chosen}`)).body).toBe('api');
    dev.child.kill('SIGINT');
    expect(await dev.exited).toBe(0);
  });

  it('a running proxy routes to the services of `connect dev` at once', async () => {
    const proxyPort = await freePort();
    const proxy = spawnCli(['proxy', 'start', '--foreground', '--port', String(proxyPort)], { home: homeB });
    await proxy.waitForEvent('proxy-listening');
    const port = await freePort();
    const dir = project(`services:\n  - name: staging-redis\n    port: ${port}\n`);
    const dev = spawnCli(['dev', '--json'], { home: homeB, cwd: dir });
    await dev.waitFor(/"connected"[\s\S]*\}\n$/);
    const info = JSON.parse(dev.stdout) as { connected: { name: string; port: number }[] };
    expect(info.connected[0]?.port).toBe(port);
    let route: { source: string; target: string } | undefined;
    for (let i = 0; i < 60 && route?.source !== 'local'; i++) {
      const index = await request(proxyPort, `localhost:${proxyPort}`, {
        headers: { accept: 'application/json' },
      });
      route = (
        JSON.parse(index.body) as { routes: { name: string; source: string; target: string }[] }
      ).routes.find((r) => r.name === 'staging-redis');
      if (route?.source !== 'local') await new Promise((r) => setTimeout(r, 50));
    }
    expect(route).toEqual(expect.objectContaining({ source: 'local', target: `localhost:${port}` }));
    expect((await request(proxyPort, `staging-redis.localhost:${proxyPort}`)).body).toBe('redis');
    dev.child.kill('SIGINT');
    await dev.exited;
    await proxy.stop();
  });

  it('a file’s host beyond loopback is refused unless --allow-network-bind is given', async () => {
    const port = await freePort();
    const dir = project(`services:\n  - name: staging-db\n    port: ${port}\n    host: 0.0.0.0\n`);
    const refused = await runCli(['dev'], { home: homeB, cwd: dir, timeoutMs: 15_000 });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toBe(
      '[x] pconnect.yml would listen beyond loopback (staging-db on 0.0.0.0), where other machines can reach it: pass --allow-network-bind to allow it\n',
    );
    expect(refused.stdout).toBe('');
    expect(activeRoutes()).toEqual([]);
    const listening = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1');
      s.once('connect', () => (s.destroy(), resolve(true)));
      s.once('error', () => resolve(false));
    });
    expect(listening).toBe(false);

    const allowed = spawnCli(['dev', '--allow-network-bind'], { home: homeB, cwd: dir });
    await allowed.waitFor(/Press Ctrl\+C/);
    expect(allowed.stdout).toContain(`    staging-db 0.0.0.0:${port}\n`);
    expect((await request(port, `localhost:${port}`)).body).toBe('db');
    allowed.child.kill('SIGINT');
    expect(await allowed.exited).toBe(0);
  });

  it('rejects a malformed pconnect.yml with file:line:col on every error, exit 1', async () => {
    const syntax = project('services:\n  - name: staging-db\n    port: [5432\n');
    const r1 = await runCli(['dev'], { home: homeB, cwd: syntax });
    expect(r1.code).toBe(1);
    expect(r1.stderr).toMatch(/^\[x\] pconnect\.yml:\d+:\d+: \S.*/);
    expect(r1.stdout).toBe('');

    const schema = project(
      'services:\n  - name: staging-db\n    port: 99999\n  - name: bad_name\n    prot: 3\n',
    );
    const r2 = await runCli(['dev'], { home: homeB, cwd: schema });
    expect(r2.code).toBe(1);
    expect(r2.stderr.trim().split('\n')).toEqual([
      '[x] pconnect.yml:3:11: services[0].port must be a port from 1 to 65535',
      "[x] pconnect.yml:4:11: services[1].name is not a valid service name: use letters, digits and '-' (1-63 characters, no leading or trailing '-')",
      "[x] pconnect.yml:5:5: unknown key 'prot' (allowed: name, port, host)",
    ]);

    const wrongHub = project('hub: https://hub.example.com\nservices:\n  - name: staging-db\n');
    const r3 = await runCli(['dev'], { home: homeB, cwd: wrongHub });
    expect(r3.code).toBe(1);
    expect(r3.stderr).toContain('names the hub https://hub.example.com');

    const none = tempDir('pc-empty-');
    const r4 = await runCli(['dev'], { home: homeB, cwd: none });
    expect(r4.code).toBe(1);
    expect(r4.stderr).toContain('no pconnect.yml');
  });

  it('`dev --init` writes pconnect.yml from the hub’s services and refuses to overwrite without --force', async () => {
    const dir = tempDir('pc-init-');
    const r = await runCli(['dev', '--init'], { home: homeB, cwd: dir });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('Wrote pconnect.yml with 3 service(s)');
    const text = readFileSync(join(dir, 'pconnect.yml'), 'utf8');
    expect(text).toContain(`hub: ${hub.url}`);
    expect(text).toMatch(/- name: staging-api\n {4}port: \d+/);
    const again = await runCli(['dev', '--init'], { home: homeB, cwd: dir });
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('already exists');
    const forced = await runCli(['dev', '--init', '--force'], { home: homeB, cwd: dir });
    expect(forced.code).toBe(0);
    // The written file is valid: `dev -f` loads it (ports may be taken by the test's own servers: auto-selected).
    const dev = spawnCli(['dev', '-f', join(dir, 'pconnect.yml')], { home: homeB, cwd: tempDir() });
    await dev.waitFor(/Press Ctrl\+C/);
    expect(dev.stdout).toContain('[ok] 3 service(s) connected:');
    dev.child.kill('SIGINT');
    await dev.exited;
  });
});
