/**
 * Seed 000, "Service Dependencies", as written (with free ports instead of 8080/3000/9999):
 *   connect reach backend-api 8080; connect reach frontend 3000; connect proxy start;
 *   curl http://backend-api.localhost:9999; curl http://frontend.localhost:9999; connect proxy stop
 * The proxy runs in the background here (pid file, log), as `proxy start` does for a user.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import http from 'node:http';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { cleanupAll, runCli, signedInHome, spawnCli, startTestHub, type TestHub } from './helpers/harness.js';
import { freePorts, request } from './proxy-helpers.js';

let hub: TestHub;
let homeA: string;
let homeB: string;
const servers: http.Server[] = [];

function serve(text: string): Promise<number> {
  const s = http.createServer((_req, res) => res.end(text));
  servers.push(s);
  return new Promise((resolve) =>
    s.listen(0, '127.0.0.1', () => resolve((s.address() as { port: number }).port)),
  );
}

beforeAll(async () => {
  hub = await startTestHub();
  const key = await hub.createKey();
  [homeA, homeB] = await Promise.all([signedInHome(hub, key, 'server'), signedInHome(hub, key, 'laptop')]);
  const [api, web] = await Promise.all([serve('backend says hi'), serve('<h1>frontend</h1>')]);
  const exposes = [
    spawnCli(['expose', 'backend-api', String(api)], { home: homeA }),
    spawnCli(['expose', 'frontend', String(web)], { home: homeA }),
  ];
  await Promise.all(exposes.map((p) => p.waitFor(/Exposed/)));
});

afterAll(async () => {
  // The background proxy is not a child of this test: stop it through the CLI if a test left it running.
  if (homeB) await runCli(['proxy', 'stop'], { home: homeB }).catch(() => undefined);
  for (const s of servers) s.close();
  await cleanupAll();
});

describe('seed flow: Service Dependencies', () => {
  it('reach, reach, proxy start, curl by subdomain, proxy status, proxy stop', async () => {
    const [apiPort = 0, webPort = 0, proxyPort = 0] = await freePorts(3);
    const reachApi = spawnCli(['reach', 'backend-api', String(apiPort)], { home: homeB });
    const reachWeb = spawnCli(['reach', 'frontend', String(webPort)], { home: homeB });
    await reachApi.waitFor(new RegExp(`localhost:${apiPort}`));
    await reachWeb.waitFor(new RegExp(`localhost:${webPort}`));

    const start = await runCli(['proxy', 'start', '--port', String(proxyPort)], { home: homeB });
    expect(start.stderr).toBe('');
    expect(start.code).toBe(0);
    expect(start.stdout).toContain(`Proxy started on port ${proxyPort}`);
    const pidFile = join(homeB, '.connect', 'proxy.pid');
    const pid = Number(readFileSync(pidFile, 'utf8').trim());
    expect(pid).toBeGreaterThan(0);
    expect(existsSync(join(homeB, '.connect', 'proxy.log'))).toBe(true);

    const api = await request(proxyPort, `backend-api.localhost:${proxyPort}`);
    expect(api.status).toBe(200);
    expect(api.body).toBe('backend says hi');
    const web = await request(proxyPort, `frontend.localhost:${proxyPort}`);
    expect(web.body).toBe('<h1>frontend</h1>');

    const again = await runCli(['proxy', 'start', '--port', String(proxyPort)], { home: homeB });
    expect(again.code).toBe(0);
    expect(again.stdout).toContain('already running');

    const status = await runCli(['proxy', 'status', '--json'], { home: homeB });
    expect(status.code).toBe(0);
    const info = JSON.parse(status.stdout) as {
      responding: boolean;
      routes: { name: string; source: string; target: string }[];
    };
    expect(info.responding).toBe(true);
    expect(info.routes).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ name: 'backend-api', source: 'local', target: `localhost:${apiPort}` }),
        expect.objectContaining({ name: 'frontend', source: 'local', target: `localhost:${webPort}` }),
      ]),
    );

    const stop = await runCli(['proxy', 'stop'], { home: homeB });
    expect(stop.code).toBe(0);
    expect(stop.stdout).toContain(`Proxy stopped (pid ${pid})`);
    expect(stop.stdout).not.toContain('killed'); // SIGTERM was enough
    expect(existsSync(pidFile)).toBe(false);
    await expect(request(proxyPort, `backend-api.localhost:${proxyPort}`)).rejects.toThrow();

    const after = await runCli(['proxy', 'status'], { home: homeB });
    expect(after.code).toBe(1);
    expect(after.stderr).toContain('not running');
    const stopAgain = await runCli(['proxy', 'stop'], { home: homeB });
    expect(stopAgain.code).toBe(0);
    expect(stopAgain.stdout).toContain('not running');
  });

  it('`proxy start` on a taken port fails with the reason, leaving no pid file', async () => {
    const blocker = http.createServer();
    servers.push(blocker);
    const port = await new Promise<number>((resolve) =>
      blocker.listen(0, '127.0.0.1', () => resolve((blocker.address() as { port: number }).port)),
    );
    const r = await runCli(['proxy', 'start', '--port', String(port)], { home: homeB });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/already in use/);
    expect(existsSync(join(homeB, '.connect', 'proxy.pid'))).toBe(false);
  });
});
