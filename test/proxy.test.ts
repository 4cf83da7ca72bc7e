/**
 * `connect proxy` end to end: a hub, agent A exposing HTTP/WebSocket services, agent B running the proxy (separate
 * HOMEs, real processes). Requests go to 127.0.0.1:<proxyPort> with `Host: <service>.localhost:<proxyPort>`.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import http from 'node:http';
import net from 'node:net';
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import WebSocket, { WebSocketServer } from 'ws';
import {
  cleanupAll,
  runCli,
  signedInHome,
  sleep,
  spawnCli,
  startTestHub,
  type CliProcess,
  type TestHub,
} from './helpers/harness.js';
import { byteChunks, freePort, hashBody, request } from './proxy-helpers.js';

const MB = 1024 * 1024;
const BIG = 50 * MB;

let hub: TestHub;
let homeA: string;
let homeB: string;
let proxy: CliProcess;
let proxyPort: number;
const servers: { close(): void }[] = [];
const host = (name: string): string => `${name}.localhost:${proxyPort}`;
/** The non-GET requests svc-a received (what a refused cross-site request must never add to). */
const svcAWrites: string[] = [];
let tcpEchoConnections = 0;

function listen(server: http.Server): Promise<number> {
  servers.push(server);
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve((server.address() as { port: number }).port)),
  );
}

async function expose(name: string, port: number, protocol = 'http'): Promise<CliProcess> {
  const p = spawnCli(['expose', name, String(port), '--protocol', protocol], { home: homeA });
  await p.waitFor(/Exposed/);
  return p;
}

function sha256Of(total: number): string {
  const h = createHash('sha256');
  for (const c of byteChunks(total)) h.update(c);
  return h.digest('hex');
}

beforeAll(async () => {
  hub = await startTestHub();
  const key = await hub.createKey();
  [homeA, homeB] = await Promise.all([signedInHome(hub, key, 'agent-a'), signedInHome(hub, key, 'agent-b')]);

  const svcA = http.createServer((req, res) => {
    if (req.method !== 'GET') svcAWrites.push(`${req.method ?? ''} ${req.url ?? ''}`);
    if (req.url === '/echo') {
      // Streams the upload back as it arrives (never buffered whole).
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      req.pipe(res);
      return;
    }
    if (req.url === '/download') {
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': BIG });
      Readable.from(byteChunks(BIG)).pipe(res);
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ service: 'svc-a', url: req.url, headers: req.headers }));
  });
  const svcB = http.createServer((_req, res) => res.end('hello from svc-b'));
  const wsHttp = http.createServer((_req, res) => res.end('ws only'));
  const wss = new WebSocketServer({ server: wsHttp });
  wss.on('connection', (ws) => ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary })));
  servers.push({ close: () => wss.close() });

  // A raw TCP service (a database, say): the proxy must not forward HTTP requests to it.
  const tcpEcho = net.createServer((socket) => {
    tcpEchoConnections++;
    socket.pipe(socket);
  });
  servers.push(tcpEcho);
  const tcpPort = await new Promise<number>((resolve) =>
    tcpEcho.listen(0, '127.0.0.1', () => resolve((tcpEcho.address() as net.AddressInfo).port)),
  );

  const [portA, portB, portWs, deadPort] = await Promise.all([
    listen(svcA),
    listen(svcB),
    listen(wsHttp),
    freePort(),
  ]);
  await Promise.all([
    expose('svc-a', portA),
    expose('svc-b', portB),
    expose('ws-echo', portWs),
    expose('svc-dead', deadPort),
    expose('tcp-echo', tcpPort, 'tcp'),
  ]);

  proxyPort = await freePort();
  proxy = spawnCli(['proxy', 'start', '--foreground', '--port', String(proxyPort)], { home: homeB });
  await proxy.waitFor(/Proxy listening/);
});

afterAll(async () => {
  for (const s of servers) s.close();
  await cleanupAll();
});

describe('connect proxy', () => {
  it('routes two exposed HTTP services by subdomain, through its own hub session', async () => {
    const a = await request(proxyPort, host('svc-a'), { path: '/hello?x=1' });
    expect(a.status).toBe(200);
    const seen = JSON.parse(a.body) as { service: string; url: string; headers: Record<string, string> };
    expect(seen.service).toBe('svc-a');
    expect(seen.url).toBe('/hello?x=1');
    expect(seen.headers['x-forwarded-for']).toBe('127.0.0.1');
    expect(seen.headers['x-forwarded-host']).toBe(host('svc-a'));
    expect(seen.headers['x-forwarded-proto']).toBe('http');
    expect(seen.headers.host).toBe(host('svc-a'));
    expect(seen.headers.via).toMatch(/^1\.1 private-connect-[0-9a-f]+$/);

    const b = await request(proxyPort, `SVC-B.LocalHost:${proxyPort}`);
    expect(b.status).toBe(200);
    expect(b.body).toBe('hello from svc-b');
  });

  it('keeps client connections alive across requests', async () => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const first = await request(proxyPort, host('svc-b'), { agent });
    const second = await request(proxyPort, host('svc-a'), { agent });
    agent.destroy();
    expect(first.status).toBe(200);
    expect(second.status).toBe(200);
    expect(second.reusedSocket).toBe(true);
  });

  it('streams a 50 MB upload and a 50 MB download without corrupting a byte', async () => {
    const expected = sha256Of(BIG);
    // Upload (chunked, streamed) echoed back: hash what comes back.
    const echoed = await new Promise<{ hash: string; bytes: number }>((resolve, reject) => {
      const req = http.request(
        {
          host: '127.0.0.1',
          port: proxyPort,
          path: '/echo',
          method: 'POST',
          headers: { host: host('svc-a') },
          agent: false,
        },
        (res) => void hashBody(res).then(resolve, reject),
      );
      req.on('error', reject);
      Readable.from(byteChunks(BIG)).pipe(req);
    });
    expect(echoed.bytes).toBe(BIG);
    expect(echoed.hash).toBe(expected);

    const downloaded = await new Promise<{ hash: string; bytes: number; length: string | undefined }>(
      (resolve, reject) => {
        http
          .get(
            {
              host: '127.0.0.1',
              port: proxyPort,
              path: '/download',
              headers: { host: host('svc-a') },
              agent: false,
            },
            (res) =>
              void hashBody(res).then(
                (body) => resolve({ ...body, length: res.headers['content-length'] }),
                reject,
              ),
          )
          .on('error', reject);
      },
    );
    expect(downloaded.length).toBe(String(BIG));
    expect(downloaded.bytes).toBe(BIG);
    expect(downloaded.hash).toBe(expected);
  });

  it('passes WebSocket upgrades through', async () => {
    const ws = new WebSocket(`ws://127.0.0.1:${proxyPort}/socket`, { headers: { host: host('ws-echo') } });
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    const replies: string[] = [];
    const got = new Promise<void>((resolve) =>
      ws.on('message', (data: Buffer) => {
        replies.push(data.toString());
        if (replies.length === 3) resolve();
      }),
    );
    ws.send('one');
    ws.send('two');
    ws.send('x'.repeat(200_000));
    await got;
    expect(replies.slice(0, 2)).toEqual(['one', 'two']);
    expect(replies[2]).toHaveLength(200_000);
    ws.close();
  });

  it('answers 404 for an unknown name, listing the available ones (JSON when asked, HTML for browsers)', async () => {
    const json = await request(proxyPort, host('nope'), { headers: { accept: 'application/json' } });
    expect(json.status).toBe(404);
    const body = JSON.parse(json.body) as { service: string; available: string[] };
    expect(body.service).toBe('nope');
    expect(body.available).toEqual(expect.arrayContaining(['svc-a', 'svc-b', 'ws-echo', 'svc-dead']));

    const html = await request(proxyPort, host('nope'), {
      headers: { accept: 'text/html,application/xhtml+xml' },
    });
    expect(html.status).toBe(404);
    expect(html.headers['content-type']).toMatch(/text\/html/);
    expect(html.body).toContain('svc-a.localhost');

    const text = await request(proxyPort, host('nope'));
    expect(text.body).toContain("No service named 'nope'");
  });

  it('answers 502 naming the service and the reason when the upstream is down', async () => {
    const r = await request(proxyPort, host('svc-dead'), { headers: { accept: 'application/json' } });
    expect(r.status).toBe(502);
    const body = JSON.parse(r.body) as { service: string; reason: string; message: string };
    expect(body.service).toBe('svc-dead');
    expect(body.reason).toMatch(/ECONNREFUSED|refused/i);
    const text = await request(proxyPort, host('svc-dead'));
    expect(text.body).toContain("'svc-dead'");
  });

  it('detects a request that loops back to itself (508)', async () => {
    const index = await request(proxyPort, `localhost:${proxyPort}`, {
      headers: { accept: 'application/json' },
    });
    const info = JSON.parse(index.body) as { id: string; proxy: string };
    expect(info.proxy).toBe('private-connect');
    const r = await request(proxyPort, host('svc-a'), {
      headers: { via: `1.1 other, 1.1 private-connect-${info.id}` },
    });
    expect(r.status).toBe(508);
  });

  it('routes a new `connect reach` at once (local route wins), and drops it when reach stops, without restart', async () => {
    const routeOf = async (name: string): Promise<{ source: string; target: string } | undefined> => {
      const r = await request(proxyPort, `localhost:${proxyPort}`, {
        headers: { accept: 'application/json' },
      });
      return (
        JSON.parse(r.body) as { routes: { name: string; source: string; target: string }[] }
      ).routes.find((x) => x.name === name);
    };
    expect((await routeOf('svc-b'))?.source).toBe('hub');
    const localPort = await freePort();
    const reach = spawnCli(['reach', 'svc-b', String(localPort)], { home: homeB });
    await reach.waitFor(/Reaching/);
    const started = Date.now();
    while ((await routeOf('svc-b'))?.source !== 'local') {
      expect(Date.now() - started).toBeLessThan(3000); // well before the 10 s hub refresh
      await sleep(50);
    }
    expect((await routeOf('svc-b'))?.target).toBe(`localhost:${localPort}`);
    const routes = JSON.parse(readFileSync(join(homeB, '.connect', 'active-routes.json'), 'utf8')) as {
      localPort: number;
    }[];
    expect(routes.map((r) => r.localPort)).toContain(localPort);
    const r = await request(proxyPort, host('svc-b'));
    expect(r.body).toBe('hello from svc-b');

    await reach.stop('SIGTERM');
    const stopped = Date.now();
    while ((await routeOf('svc-b'))?.source !== 'hub') {
      expect(Date.now() - stopped).toBeLessThan(3000);
      await sleep(50);
    }
    expect((await request(proxyPort, host('svc-b'))).body).toBe('hello from svc-b');
  });

  it('`proxy status` says it responds and lists routes; a second start is refused while it runs', async () => {
    const status = await runCli(['proxy', 'status'], { home: homeB });
    expect(status.code).toBe(0);
    expect(status.stdout).toContain(`Proxy is responding on port ${proxyPort}`);
    expect(status.stdout).toContain(`http://svc-a.localhost:${proxyPort}/`);
    const again = await runCli(['proxy', 'start', '--foreground', '--port', String(await freePort())], {
      home: homeB,
    });
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/already running/);
  });
});

/** One request written by hand on a raw socket (to send a Host header node:http would not, or none at all). */
function rawRequest(port: number, head: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.write(head));
    let text = '';
    socket.setEncoding('utf8');
    socket.on('data', (c: string) => (text += c));
    socket.on('end', () => resolve(text));
    socket.on('error', reject);
  });
}

/** A WebSocket handshake's outcome: 'open', or the status the proxy refused it with. */
function wsOutcome(headers: Record<string, string>): Promise<{ status: number | 'open'; body: string }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${proxyPort}/socket`, { headers });
    ws.once('open', () => {
      ws.close();
      resolve({ status: 'open', body: '' });
    });
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    ws.once('error', reject);
  });
}

describe('connect proxy refuses what a web page of another site asks of it', () => {
  it('answers 421 to any Host but <name>.localhost (DNS rebinding), a LAN address and a missing Host', async () => {
    // A page of rebind.evil whose name now resolves to 127.0.0.1: its first label names a real service.
    const rebound = await request(proxyPort, `svc-a.rebind.evil:${proxyPort}`, { path: '/secret' });
    expect(rebound.status).toBe(421);
    expect(rebound.body.trim().split('\n')).toHaveLength(1);
    expect(rebound.body).toContain("not 'svc-a.rebind.evil:");
    expect(rebound.body).not.toContain('"service":"svc-a"'); // svc-a did not answer it
    const staging = await request(proxyPort, `staging-api.rebind.evil:${proxyPort}`, {
      headers: { accept: 'application/json' },
    });
    expect(staging.status).toBe(421);
    expect(JSON.parse(staging.body)).toMatchObject({ error: 'MISDIRECTED_REQUEST' });
    const lan = await request(proxyPort, `192.168.1.20:${proxyPort}`, {
      headers: { accept: 'application/json' },
    });
    expect(lan.status).toBe(421);
    expect(lan.body).not.toContain('svc-a');
    const empty = await rawRequest(proxyPort, 'GET / HTTP/1.1\r\nHost:\r\nConnection: close\r\n\r\n');
    expect(empty).toMatch(/^HTTP\/1\.1 421 /);
    expect(empty).toContain('without a Host');
    const none = await rawRequest(proxyPort, 'GET / HTTP/1.0\r\n\r\n');
    expect(none).toMatch(/^HTTP\/1\.1 421 /);
    // The proxy's own names still work.
    for (const own of [`localhost:${proxyPort}`, `127.0.0.1:${proxyPort}`, `[::1]:${proxyPort}`])
      expect((await request(proxyPort, own)).status).toBe(200);
    expect((await request(proxyPort, host('svc-b'))).body).toBe('hello from svc-b');
  });

  it('refuses a cross-site POST (Origin or Sec-Fetch-Site) with 403; the same origin and curl still POST', async () => {
    const before = svcAWrites.length;
    const evil = await request(proxyPort, host('svc-a'), {
      path: '/echo',
      method: 'POST',
      headers: { origin: 'https://evil.example', 'content-type': 'text/plain' },
      body: 'DROP TABLE users',
    });
    expect(evil.status).toBe(403);
    expect(evil.body.trim().split('\n')).toHaveLength(1);
    expect(evil.body).toContain('from another site (Origin https://evil.example)');
    // A rebinding page's origin is its own name, not <name>.localhost: refused too.
    const rebound = await request(proxyPort, host('svc-a'), {
      path: '/echo',
      method: 'PUT',
      headers: { origin: `http://svc-a.rebind.evil:${proxyPort}` },
      body: 'x',
    });
    expect(rebound.status).toBe(403);
    const fetchSite = await request(proxyPort, host('svc-a'), {
      path: '/item',
      method: 'DELETE',
      headers: { 'sec-fetch-site': 'cross-site' },
    });
    expect(fetchSite.status).toBe(403);
    expect(fetchSite.body).toContain('Sec-Fetch-Site: cross-site');
    expect(svcAWrites.length).toBe(before); // nothing reached the service

    const same = await request(proxyPort, host('svc-a'), {
      path: '/echo',
      method: 'POST',
      headers: { origin: `http://${host('svc-a')}`, 'sec-fetch-site': 'same-origin' },
      body: 'ok',
    });
    expect(same.status).toBe(200);
    expect(same.body).toBe('ok');
    // Pages served from this machine: another service of the proxy, a frontend on localhost:3000 (`connect dev`).
    for (const origin of [`http://svc-b.localhost:${proxyPort}`, 'http://localhost:3000']) {
      const local = await request(proxyPort, host('svc-a'), {
        path: '/echo',
        method: 'POST',
        headers: { origin, 'sec-fetch-site': 'cross-site' },
        body: 'local',
      });
      expect(local.status, origin).toBe(200);
    }
    const curl = await request(proxyPort, host('svc-a'), { path: '/echo', method: 'POST', body: 'curl' });
    expect(curl.status).toBe(200);
    expect(curl.body).toBe('curl');
    // A cross-site GET (a link, an image) is not refused: the Host check already keeps the page from reading it.
    const link = await request(proxyPort, host('svc-b'), { headers: { 'sec-fetch-site': 'cross-site' } });
    expect(link.status).toBe(200);
  });

  it('refuses a cross-site WebSocket with 403; a same-origin one and one without Origin open', async () => {
    const evil = await wsOutcome({ host: host('ws-echo'), origin: 'https://evil.example' });
    expect(evil.status).toBe(403);
    expect(evil.body).toContain('upgrade (WebSocket) from another site');
    expect((await wsOutcome({ host: host('ws-echo'), origin: `http://${host('ws-echo')}` })).status).toBe(
      'open',
    );
    expect((await wsOutcome({ host: host('ws-echo') })).status).toBe('open');
  });

  it('refuses to route a tcp service: it is not an HTTP service, nothing is forwarded to it', async () => {
    const before = tcpEchoConnections;
    const r = await request(proxyPort, host('tcp-echo'), { headers: { accept: 'application/json' } });
    expect(r.status).toBe(501);
    expect(JSON.parse(r.body)).toMatchObject({ error: 'UNSUPPORTED', service: 'tcp-echo', protocol: 'tcp' });
    const text = await request(proxyPort, host('tcp-echo'));
    expect(text.body.trim()).toBe(
      "'tcp-echo' is a tcp service, not an HTTP service: the proxy routes only http and https services (use connect reach tcp-echo)",
    );
    const ws = await wsOutcome({ host: host('tcp-echo') });
    expect(ws.status).toBe(501);
    expect(tcpEchoConnections).toBe(before);
  });

  it('lists the service names on a 404 only to the same origin, or to a request no page made', async () => {
    const cross = await request(proxyPort, host('nope'), {
      headers: { accept: 'application/json', origin: 'https://evil.example' },
    });
    expect(cross.status).toBe(404);
    expect(JSON.parse(cross.body)).toEqual({
      error: 'NOT_FOUND',
      message: "no service named 'nope'",
      service: 'nope',
    });
    const framed = await request(proxyPort, host('nope'), {
      headers: { accept: 'text/html', 'sec-fetch-site': 'cross-site' },
    });
    expect(framed.status).toBe(404);
    expect(framed.body).not.toContain('svc-a');
    const sameOrigin = await request(proxyPort, host('nope'), {
      headers: {
        accept: 'application/json',
        origin: `http://${host('nope')}`,
        'sec-fetch-site': 'same-origin',
      },
    });
    expect((JSON.parse(sameOrigin.body) as { available: string[] }).available).toContain('svc-a');
    const typed = await request(proxyPort, host('nope'), { headers: { 'sec-fetch-site': 'none' } });
    expect(typed.body).toContain('svc-a.localhost');
  });
});
