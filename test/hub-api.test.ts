import { once } from 'node:events';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { startHub, type Hub } from '../src/hub/server.js';
import { generateApiKey } from '../src/hub/api-keys.js';
import { createLogger } from '../src/util/logger.js';
import { tempDir, cleanupAll, randomTunnelRange } from './helpers/harness.js';
import { parsePortRange } from '../src/util/parse.js';
import { PROTOCOL_VERSION } from '../src/protocol/frames.js';
import { HubConnection } from '../src/agent/hub-connection.js';
import { openServiceStream } from '../src/agent/reacher.js';

let hub: Hub;
const keys: Record<'a' | 'b' | 'revoked', string> = { a: '', b: '', revoked: '' };
let agentA = '';
let agentB = '';
let secretA = '';

async function createKey(workspace: string): Promise<string> {
  const ws = await hub.store.ensureWorkspace(workspace);
  const k = generateApiKey();
  await hub.store.createApiKey({ id: k.id, workspaceId: ws.id, hash: k.hash, label: null });
  return k.key;
}

async function api(
  method: string,
  path: string,
  key?: string,
  body?: string,
  headers: Record<string, string> = {},
) {
  const res = await fetch(hub.url + path, {
    method,
    headers: {
      ...(key && { 'x-api-key': key }),
      ...(body !== undefined && { 'content-type': 'application/json' }),
      ...headers,
    },
    body,
  });
  const text = await res.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = text;
  }
  return { status: res.status, json: json as Record<string, unknown> & unknown[] };
}

beforeAll(async () => {
  hub = await startHub({
    host: '127.0.0.1',
    port: 0,
    dataDir: tempDir('pc-api-'),
    tunnelHost: '127.0.0.1',
    tunnelPorts: parsePortRange(randomTunnelRange()),
    logger: createLogger('hub-test', 'silent'),
    keyCheckMs: 200,
  });
  keys.a = await createKey('team-a');
  keys.b = await createKey('team-b');
  keys.revoked = await createKey('team-a');
  await hub.store.revokeApiKey(/^tok_([a-f0-9]{16})_/.exec(keys.revoked)?.[1] ?? '');
  const registeredA = (await api('POST', '/v1/agents', keys.a, JSON.stringify({ label: 'server-a' }))).json;
  agentA = registeredA.id as string;
  secretA = registeredA.secret as string;
  agentB = (await api('POST', '/v1/agents', keys.b, JSON.stringify({ label: 'server-b' }))).json.id as string;
});

afterAll(async () => {
  await hub.close();
  await cleanupAll();
});

describe('hub HTTP API', () => {
  it('answers /health without a key and reports the store', async () => {
    const r = await api('GET', '/health');
    expect(r.status).toBe(200);
    expect(r.json).toMatchObject({ status: 'ok', store: { kind: 'sqlite', reachable: true } });
  });

  it('serves an OpenAPI document describing the /v1 routes', async () => {
    const r = await api('GET', '/openapi.json');
    expect(r.status).toBe(200);
    const doc = r.json as unknown as { openapi: string; paths: Record<string, unknown> };
    expect(doc.openapi).toMatch(/^3\./);
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining(['/v1/services', '/v1/agents', '/v1/agents/{id}']),
    );
  });

  it('lists services as [] for a new workspace', async () => {
    const r = await api('GET', '/v1/services', keys.a);
    expect(r.status).toBe(200);
    expect(r.json).toEqual([]);
  });

  // Every /v1 route against {no key, wrong key, revoked key, another workspace's key}.
  const routes: { method: string; path: () => string; body?: string; ownerOk: number }[] = [
    { method: 'GET', path: () => '/v1/services', ownerOk: 200 },
    { method: 'GET', path: () => '/v1/services/nope', ownerOk: 404 },
    { method: 'DELETE', path: () => '/v1/services/nope', ownerOk: 404 },
    { method: 'GET', path: () => '/v1/agents', ownerOk: 200 },
    { method: 'GET', path: () => `/v1/agents/${agentA}`, ownerOk: 200 },
    {
      method: 'PATCH',
      path: () => `/v1/agents/${agentA}`,
      body: JSON.stringify({ label: 'renamed-a' }),
      ownerOk: 200,
    },
    { method: 'POST', path: () => '/v1/agents', body: JSON.stringify({ label: 'another' }), ownerOk: 201 },
    { method: 'GET', path: () => '/v1/whoami', ownerOk: 200 },
    { method: 'GET', path: () => '/metrics', ownerOk: 200 },
  ];
  for (const route of routes) {
    it(`${route.method} ${route.path.toString().includes('agentA') ? '/v1/agents/:id' : route.path()} needs a valid key of the right workspace`, async () => {
      const path = route.path();
      expect((await api(route.method, path, undefined, route.body)).status).toBe(401);
      expect(
        (await api(route.method, path, 'tok_0000000000000000_' + 'x'.repeat(43), route.body)).status,
      ).toBe(401);
      expect((await api(route.method, path, 'garbage', route.body)).status).toBe(401);
      expect((await api(route.method, path, keys.revoked, route.body)).status).toBe(401);
      expect((await api(route.method, path, keys.a, route.body)).status).toBe(route.ownerOk);
      if (path.includes(agentA)) {
        // Another workspace's object is invisible: 404, never 403 (which would confirm it exists).
        expect((await api(route.method, path, keys.b, route.body)).status).toBe(404);
      }
    });
  }

  it('scopes lists to the key’s workspace', async () => {
    const a = await api('GET', '/v1/agents', keys.a);
    const b = await api('GET', '/v1/agents', keys.b);
    expect(a.json.map((x) => (x as { id: string }).id)).not.toContain(agentB);
    expect(b.json.map((x) => (x as { id: string }).id)).toEqual([agentB]);
  });

  it('rejects malformed JSON, wrong types, unknown fields and oversized bodies with 4xx', async () => {
    const bad = async (body: string, headers: Record<string, string> = {}) =>
      api('POST', '/v1/agents', keys.a, body, headers);
    const malformed = await bad('{"label": ');
    expect(malformed.status).toBe(400);
    expect(malformed.json).toMatchObject({ code: expect.any(String), message: expect.any(String) });
    expect((await bad(JSON.stringify({ label: 42 }))).status).toBe(400);
    expect((await bad(JSON.stringify({ label: 'ok', admin: true }))).status).toBe(400);
    expect((await bad(JSON.stringify({}))).status).toBe(400);
    expect((await bad('[]')).status).toBe(400);
    expect((await bad(JSON.stringify({ label: 'x'.repeat(200_000) }))).status).toBe(413);
    expect((await bad('label=x', { 'content-type': 'application/x-www-form-urlencoded' })).status).toBe(415);
    // The hub is still up after all of that.
    expect((await api('GET', '/health')).status).toBe(200);
  });

  it('answers a malformed or over-long path with the JSON error shape, not the framework’s', async () => {
    for (const path of ['/v1/services/%ZZ', `/v1/services/${'a'.repeat(150)}`]) {
      const r = await api('GET', path, keys.a);
      expect(r.status).toBeGreaterThanOrEqual(400);
      expect(r.status).toBeLessThan(500);
      expect(r.json).toEqual({ statusCode: r.status, code: 'BAD_INPUT', message: expect.any(String) });
    }
  });

  it('answers unknown routes with a JSON 404', async () => {
    const r = await api('GET', '/v1/nothing-here', keys.a);
    expect(r.status).toBe(404);
    expect(r.json).toMatchObject({ code: 'NOT_FOUND' });
  });

  it('returns no key hashes or secrets in any response', async () => {
    for (const path of ['/v1/agents', '/v1/services', '/v1/whoami']) {
      const r = await api('GET', path, keys.a);
      expect(JSON.stringify(r.json)).not.toMatch(/hash|tok_/);
    }
  });
});

describe('agent WebSocket endpoint', () => {
  const connect = (headers: Record<string, string>): Promise<{ opened: boolean; status?: number }> =>
    new Promise((resolve) => {
      const ws = new WebSocket(hub.url.replace('http', 'ws') + '/v1/connect', { headers });
      ws.on('open', () => {
        ws.close();
        resolve({ opened: true });
      });
      ws.on('unexpected-response', (_req, res) => {
        resolve({ opened: false, status: res.statusCode });
        res.resume();
      });
      ws.on('error', () => undefined);
    });
  const good = (): Record<string, string> => ({
    'x-api-key': keys.a,
    'x-agent-id': agentA,
    'x-agent-secret': secretA,
    'x-connect-protocol': String(PROTOCOL_VERSION),
  });

  it('accepts a valid agent and refuses bad keys, foreign agents and old protocols', async () => {
    expect(await connect(good())).toEqual({ opened: true });
    expect(await connect({ ...good(), 'x-api-key': keys.revoked })).toEqual({ opened: false, status: 401 });
    expect(await connect({ ...good(), 'x-agent-id': agentB })).toEqual({ opened: false, status: 404 });
    expect(await connect({ ...good(), 'x-connect-protocol': '0' })).toEqual({ opened: false, status: 426 });
  });

  it('keeps several sessions of one agent side by side', async () => {
    const open = (): Promise<WebSocket> =>
      new Promise((resolve) => {
        const ws = new WebSocket(hub.url.replace('http', 'ws') + '/v1/connect', { headers: good() });
        ws.on('open', () => resolve(ws));
      });
    const [s1, s2, s3] = await Promise.all([open(), open(), open()]);
    await new Promise((r) => setTimeout(r, 100));
    expect(
      hub.registry.sessionsOf(hub.registry.all()[0]?.workspaceId ?? '', agentA).length,
    ).toBeGreaterThanOrEqual(3);
    for (const s of [s1, s2, s3]) expect(s?.readyState).toBe(WebSocket.OPEN);
    s1?.close();
    await new Promise((r) => setTimeout(r, 100));
    expect(s2?.readyState).toBe(WebSocket.OPEN);
    s2?.close();
    s3?.close();
  });

  it("HubConnection.start fails for good on a refused key (no retry loop) with the hub's reason", async () => {
    const conn = new HubConnection({
      hubUrl: hub.url,
      apiKey: keys.revoked,
      agentId: agentA,
      agentSecret: secretA,
      kind: 'test',
    });
    try {
      await expect(conn.start()).rejects.toThrow(
        /the hub refused this agent: missing, invalid, revoked or expired API key/,
      );
      expect(conn.session).toBeUndefined();
    } finally {
      conn.stop();
    }
  });

  it('resets a stream to an unknown service when the store fails, and stays up', async () => {
    const conn = new HubConnection({
      hubUrl: hub.url,
      apiKey: keys.a,
      agentId: agentA,
      agentSecret: secretA,
      kind: 'test',
    });
    await conn.start(true);
    const store = hub.store;
    const real = store.findServiceByName.bind(store);
    store.findServiceByName = () => Promise.reject(new Error('store is down'));
    try {
      const stream = await openServiceStream(conn, 'nowhere');
      const reset = await new Promise<{ reason: string }>((resolve) => stream.once('reset', resolve));
      expect(reset.reason).toMatch(/cannot look up 'nowhere'/);
    } finally {
      store.findServiceByName = real;
      conn.stop();
    }
    expect((await api('GET', '/health')).status).toBe(200);
  });

  it('ends the live sessions of a key once it is revoked, and only those', async () => {
    const doomed = await createKey('team-a');
    const open = (key: string): Promise<WebSocket> =>
      new Promise((resolve, reject) => {
        const ws = new WebSocket(hub.url.replace('http', 'ws') + '/v1/connect', {
          headers: { ...good(), 'x-api-key': key },
        });
        ws.on('open', () => resolve(ws));
        ws.on('error', reject);
      });
    const [revokedWs, keptWs] = await Promise.all([open(doomed), open(keys.a)]);
    const closed = new Promise<void>((r) => revokedWs.on('close', () => r()));
    await hub.store.revokeApiKey(/^tok_([a-f0-9]{16})_/.exec(doomed)?.[1] ?? '');
    await closed;
    expect(keptWs.readyState).toBe(WebSocket.OPEN);
    keptWs.close();
  });

  it('closes a session that sends a malformed frame and stays up', async () => {
    const ws = new WebSocket(hub.url.replace('http', 'ws') + '/v1/connect', { headers: good() });
    await new Promise((r) => ws.on('open', r));
    const closed = new Promise<number>((r) => ws.on('close', (code) => r(code)));
    ws.send(Buffer.from([0xff, 0, 0, 0, 0, 0, 1, 2, 3]));
    expect(await closed).toBe(1002);
    expect((await api('GET', '/health')).status).toBe(200);
  });

  /** Raw bytes on an upgraded connection: what the hub answers, up to its closing the socket. */
  async function rawSession(request: string, after: Buffer): Promise<string> {
    const { port } = new URL(hub.url);
    const socket = net.connect({ host: '127.0.0.1', port: Number(port) });
    await once(socket, 'connect');
    const chunks: Buffer[] = [];
    socket.on('data', (d: Buffer) => {
      chunks.push(d);
      if (Buffer.concat(chunks).includes('\r\n\r\n') && after.length > 0) {
        socket.write(after); // once the 101 is in
        after = Buffer.alloc(0);
      }
    });
    socket.write(request);
    await once(socket, 'close');
    return Buffer.concat(chunks).toString('latin1');
  }

  const upgradeRequest = (headers: Record<string, string>): string =>
    `GET /v1/connect HTTP/1.1\r\nHost: x\r\n${Object.entries(headers)
      .map(([k, v]) => `${k}: ${v}\r\n`)
      .join('')}\r\n`;

  it('closes with 1002 a session whose WebSocket framing is broken (an unmasked client frame) and stays up', async () => {
    const answer = await rawSession(
      upgradeRequest({
        ...good(),
        Connection: 'Upgrade',
        Upgrade: 'websocket',
        'Sec-WebSocket-Version': '13',
        'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==',
      }),
      Buffer.from([0x82, 0x06, 2, 0, 0, 0, 0, 1]), // a client frame without the mask bit
    );
    expect(answer).toContain('101 Switching Protocols');
    expect(answer).toContain('Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=');
    const frames = Buffer.from(answer.slice(answer.indexOf('\r\n\r\n') + 4), 'latin1');
    const close = frames.indexOf(0x88); // our close frame follows the welcome message
    expect(close).toBeGreaterThanOrEqual(0);
    expect(frames.readUInt16BE(close + 2)).toBe(1002);
    expect((await api('GET', '/health')).status).toBe(200);
  });

  it('refuses an authenticated upgrade that is not a valid WebSocket handshake with 400', async () => {
    const answer = await rawSession(
      upgradeRequest({ ...good(), Connection: 'Upgrade', Upgrade: 'websocket' }),
      Buffer.alloc(0),
    );
    expect(answer).toMatch(/^HTTP\/1.1 400 /);
    expect(answer).toContain('Sec-WebSocket-Version');
  });
});

describe('control requests', () => {
  it('lets only the serving session take a service offline (an old session of the same agent cannot)', async () => {
    const connect = async (): Promise<HubConnection> => {
      const conn = new HubConnection({
        hubUrl: hub.url,
        apiKey: keys.a,
        agentId: agentA,
        agentSecret: secretA,
        kind: 'test',
      });
      await conn.start(true);
      return conn;
    };
    const [old, current] = [await connect(), await connect()];
    const expose = {
      op: 'expose',
      name: 'handover',
      targetHost: 'localhost',
      targetPort: 9,
      protocol: 'tcp',
    } as const;
    await old.request(expose);
    await current.request(expose); // the same agent moves the service to its newer session
    await old.request({ op: 'unexpose', name: 'handover', remove: false });
    const status = async (): Promise<string> => {
      const res = await fetch(`${hub.url}/v1/services/handover`, { headers: { 'x-api-key': keys.a } });
      return ((await res.json()) as { status: string }).status;
    };
    expect(await status()).toBe('online');
    await current.request({ op: 'unexpose', name: 'handover', remove: false });
    expect(await status()).toBe('offline');
    old.stop();
    current.stop();
  });

  it('refuses an unknown protocol with BAD_INPUT naming the allowed ones (it is not taken for tcp)', async () => {
    const conn = new HubConnection({
      hubUrl: hub.url,
      apiKey: keys.a,
      agentId: agentA,
      agentSecret: secretA,
      kind: 'test',
    });
    await conn.start(true);
    const request = {
      op: 'expose',
      name: 'ftp-box',
      targetHost: 'localhost',
      targetPort: 21,
      protocol: 'ftp',
    };
    // A peer may send anything: the client's own types would refuse 'ftp', so it goes untyped.
    await expect(conn.request(request as never)).rejects.toMatchObject({
      code: 'BAD_INPUT',
      message: "unknown protocol 'ftp': use one of tcp, http, https",
    });
    expect((await api('GET', '/v1/services/ftp-box', keys.a)).status).toBe(404);
    conn.stop();
  });
});

describe('/metrics', () => {
  it('shows a workspace only its own sessions', async () => {
    const conn = new HubConnection({
      hubUrl: hub.url,
      apiKey: keys.a,
      agentId: agentA,
      agentSecret: secretA,
      kind: 'test',
    });
    await conn.start(true);
    const sessions = async (key: string): Promise<number> => {
      const text = await (await fetch(`${hub.url}/metrics`, { headers: { 'x-api-key': key } })).text();
      return Number(/^pc_hub_sessions (\d+)/m.exec(text)?.[1]);
    };
    expect(await sessions(keys.a)).toBeGreaterThanOrEqual(1);
    expect(await sessions(keys.b)).toBe(0);
    conn.stop();
  });
});
