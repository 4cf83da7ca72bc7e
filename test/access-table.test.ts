/**
 * Roles × routes: every /v1 route, the agent upgrade, every CONTROL op and OPEN, for each kind of key (admin,
 * agent, reach, reach with a service list) of the workspace, a key of another workspace, a revoked key and an
 * expired one, against a real hub on port 0.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { startHub, type Hub } from '../src/hub/server.js';
import { generateApiKey } from '../src/hub/api-keys.js';
import { createLogger } from '../src/util/logger.js';
import { cleanupAll, randomTunnelRange, tempDir } from './helpers/harness.js';
import { parsePortRange } from '../src/util/parse.js';
import { PROTOCOL_VERSION } from '../src/protocol/frames.js';
import { HubConnection } from '../src/agent/hub-connection.js';
import { openServiceStream } from '../src/agent/reacher.js';
import { formatShareToken } from '../src/api/share.js';
import type { ApiKeyRecord } from '../src/hub/store/index.js';
import type { ServiceName } from '../src/api/service-name.js';

type Who = 'admin' | 'agent' | 'reach' | 'listed' | 'other' | 'revoked' | 'expired';
const WHO: readonly Who[] = ['admin', 'agent', 'reach', 'listed', 'other', 'revoked', 'expired'];

let hub: Hub;
const keys = {} as Record<Who, string>;
/** Agents registered by the admin, agent and reach keys (and by the other workspace's key). */
const agents = {} as Record<'admin' | 'agent' | 'reach' | 'other', { id: string; secret: string }>;
const conns: HubConnection[] = [];
/** The share the revoke row removes (a fresh one before each call). */
let adminShare = '';

async function createKey(
  workspace: string,
  scope: Partial<Pick<ApiKeyRecord, 'role' | 'services' | 'expiresAt'>> = {},
): Promise<string> {
  const ws = await hub.store.ensureWorkspace(workspace);
  const k = generateApiKey();
  await hub.store.createApiKey({ id: k.id, workspaceId: ws.id, hash: k.hash, label: null, ...scope });
  return k.key;
}

const keyId = (key: string): string => /^tok_([a-f0-9]{16})_/.exec(key)?.[1] ?? '';

async function api(method: string, path: string, key: string, body?: unknown) {
  const res = await fetch(hub.url + path, {
    method,
    headers: { 'x-api-key': key, ...(body !== undefined && { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  let json: unknown;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = text; // /metrics answers Prometheus text
  }
  return { status: res.status, json: json as Record<string, unknown> };
}

async function register(key: string, label: string): Promise<{ id: string; secret: string }> {
  const { status, json } = await api('POST', '/v1/agents', key, { label });
  expect(status).toBe(201);
  return { id: json.id as string, secret: json.secret as string };
}

async function session(key: string, agent: { id: string; secret: string }): Promise<HubConnection> {
  const conn = new HubConnection({
    hubUrl: hub.url,
    apiKey: key,
    agentId: agent.id,
    agentSecret: agent.secret,
    kind: 'test',
    // The exposing side answers every stream with one line.
    onOpen: (req) => {
      const stream = req.accept();
      stream.accept();
      stream.write(Buffer.from('hello\n'));
      stream.end();
    },
  });
  conns.push(conn);
  await conn.start(true);
  return conn;
}

/** The upgrade's answer: 101, or the refusal's status. */
function upgrade(headers: Record<string, string>): Promise<number> {
  return new Promise((resolve) => {
    const ws = new WebSocket(hub.url.replace('http', 'ws') + '/v1/connect', {
      headers: { 'x-connect-protocol': String(PROTOCOL_VERSION), ...headers },
    });
    ws.on('open', () => {
      ws.close();
      resolve(101);
    });
    ws.on('unexpected-response', (_req, res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    ws.on('error', () => undefined);
  });
}

/** What a reach of `name` from `conn` gets: 'ok' with the service's first bytes, else the reset's reason. */
async function reach(conn: HubConnection, name: string): Promise<string> {
  const stream = await openServiceStream(conn, name);
  return new Promise((resolve) => {
    stream.once('data', () => resolve('ok'));
    stream.once('reset', (r: { reason: string }) => resolve(r.reason));
  });
}

let adminConn: HubConnection;
let agentConn: HubConnection;
let reachConn: HubConnection;
let listedConn: HubConnection;

beforeAll(async () => {
  hub = await startHub({
    host: '127.0.0.1',
    port: 0,
    dataDir: tempDir('pc-access-'),
    tunnelHost: '127.0.0.1',
    tunnelPorts: parsePortRange(randomTunnelRange()),
    logger: createLogger('hub-test', 'silent'),
    keyCheckMs: 200,
  });
  keys.admin = await createKey('team');
  keys.agent = await createKey('team', { role: 'agent' });
  keys.reach = await createKey('team', { role: 'reach' });
  keys.listed = await createKey('team', { role: 'reach', services: ['svc-a' as ServiceName] });
  keys.other = await createKey('elsewhere');
  keys.revoked = await createKey('team');
  keys.expired = await createKey('team', { expiresAt: new Date(Date.now() - 1000).toISOString() });
  agents.admin = await register(keys.admin, 'admin-box');
  agents.agent = await register(keys.agent, 'agent-box');
  agents.reach = await register(keys.reach, 'reach-box');
  agents.other = await register(keys.other, 'other-box');
  await hub.store.revokeApiKey(keyId(keys.revoked));

  agentConn = await session(keys.agent, agents.agent);
  await agentConn.request({ op: 'expose', name: 'svc-a', targetHost: 'localhost', targetPort: 9 });
  await agentConn.request({ op: 'expose', name: 'svc-b', targetHost: 'localhost', targetPort: 9 });
  adminConn = await session(keys.admin, agents.admin);
  await adminConn.request({ op: 'expose', name: 'svc-admin', targetHost: 'localhost', targetPort: 9 });
  reachConn = await session(keys.reach, agents.reach);
  listedConn = await session(keys.listed, await register(keys.listed, 'listed-box'));
}, 30_000);

afterAll(async () => {
  for (const c of conns) c.stop();
  await hub.close();
  await cleanupAll();
});

/** One row: a route and what each key gets (a status, or a status and a check of the body). */
interface Row {
  name: string;
  method: string;
  path: () => string;
  body?: unknown;
  expect: Record<Who, number>;
  /** Runs before each call (a DELETE needs a fresh service to remove). */
  before?: () => Promise<void>;
}

const ALL_200 = { admin: 200, agent: 200, reach: 200, listed: 200, other: 200, revoked: 401, expired: 401 };

const rows: Row[] = [
  { name: 'whoami', method: 'GET', path: () => '/v1/whoami', expect: ALL_200 },
  { name: 'metrics', method: 'GET', path: () => '/metrics', expect: ALL_200 },
  {
    name: 'register an agent',
    method: 'POST',
    path: () => '/v1/agents',
    body: { label: 'table' },
    expect: { admin: 201, agent: 201, reach: 201, listed: 201, other: 201, revoked: 401, expired: 401 },
  },
  { name: 'list agents', method: 'GET', path: () => '/v1/agents', expect: ALL_200 },
  {
    name: "read the agent key's agent",
    method: 'GET',
    path: () => `/v1/agents/${agents.agent.id}`,
    expect: { admin: 200, agent: 200, reach: 403, listed: 403, other: 404, revoked: 401, expired: 401 },
  },
  {
    name: "rename the agent key's agent",
    method: 'PATCH',
    path: () => `/v1/agents/${agents.agent.id}`,
    body: { name: 'renamed' },
    expect: { admin: 200, agent: 200, reach: 403, listed: 403, other: 404, revoked: 401, expired: 401 },
  },
  {
    name: "rename the admin key's agent",
    method: 'PATCH',
    path: () => `/v1/agents/${agents.admin.id}`,
    body: { name: 'renamed' },
    expect: { admin: 200, agent: 403, reach: 403, listed: 403, other: 404, revoked: 401, expired: 401 },
  },
  { name: 'list services', method: 'GET', path: () => '/v1/services', expect: ALL_200 },
  {
    name: 'read the audit log',
    method: 'GET',
    path: () => '/v1/audit',
    expect: { admin: 200, agent: 403, reach: 403, listed: 403, other: 200, revoked: 401, expired: 401 },
  },
  {
    name: 'read a listed service',
    method: 'GET',
    path: () => '/v1/services/svc-a',
    expect: { admin: 200, agent: 200, reach: 200, listed: 200, other: 404, revoked: 401, expired: 401 },
  },
  {
    name: 'read a service not in the list',
    method: 'GET',
    path: () => '/v1/services/svc-b',
    expect: { admin: 200, agent: 200, reach: 200, listed: 403, other: 404, revoked: 401, expired: 401 },
  },
  {
    name: "delete the agent key's service",
    method: 'DELETE',
    path: () => '/v1/services/doomed',
    before: async () => {
      await agentConn.request({ op: 'expose', name: 'doomed', targetHost: 'localhost', targetPort: 9 });
    },
    expect: { admin: 204, agent: 204, reach: 403, listed: 403, other: 404, revoked: 401, expired: 401 },
  },
  {
    name: "delete the admin key's service",
    method: 'DELETE',
    path: () => '/v1/services/doomed-admin',
    before: async () => {
      await adminConn.request({ op: 'expose', name: 'doomed-admin', targetHost: 'localhost', targetPort: 9 });
    },
    expect: { admin: 204, agent: 403, reach: 403, listed: 403, other: 404, revoked: 401, expired: 401 },
  },
  {
    name: 'share a service',
    method: 'POST',
    path: () => '/v1/shares',
    body: { service: 'svc-a', expiresInMs: 60_000 },
    expect: { admin: 201, agent: 201, reach: 403, listed: 403, other: 404, revoked: 401, expired: 401 },
  },
  {
    name: 'list shares',
    method: 'GET',
    path: () => '/v1/shares',
    expect: { admin: 200, agent: 200, reach: 403, listed: 403, other: 200, revoked: 401, expired: 401 },
  },
  {
    name: "revoke the admin key's share",
    method: 'DELETE',
    path: () => `/v1/shares/${adminShare}`,
    before: async () => {
      const { json } = await api('POST', '/v1/shares', keys.admin, { service: 'svc-a', expiresInMs: 60_000 });
      adminShare = String(json.id);
    },
    expect: { admin: 204, agent: 403, reach: 403, listed: 403, other: 404, revoked: 401, expired: 401 },
  },
  {
    name: "grant access to the agent key's service",
    method: 'POST',
    path: () => '/v1/services/granted/grants',
    body: { grantees: ['table-grantee'] },
    before: async () => {
      await agentConn.request({ op: 'expose', name: 'granted', targetHost: 'localhost', targetPort: 9 });
    },
    expect: { admin: 200, agent: 200, reach: 403, listed: 403, other: 404, revoked: 401, expired: 401 },
  },
  {
    name: "revoke the grants of the agent key's service",
    method: 'POST',
    path: () => '/v1/services/granted/grants/revoke',
    body: { all: true },
    expect: { admin: 200, agent: 200, reach: 403, listed: 403, other: 404, revoked: 401, expired: 401 },
  },
  {
    name: "grant access to the admin key's service",
    method: 'POST',
    path: () => '/v1/services/granted-admin/grants',
    body: { grantees: ['table-grantee'] },
    before: async () => {
      await adminConn.request({
        op: 'expose',
        name: 'granted-admin',
        targetHost: 'localhost',
        targetPort: 9,
      });
    },
    expect: { admin: 200, agent: 403, reach: 403, listed: 403, other: 404, revoked: 401, expired: 401 },
  },
];

describe('every /v1 route × every key', () => {
  for (const row of rows) {
    it(`${row.method} ${row.name}`, async () => {
      const got: Partial<Record<Who, number>> = {};
      for (const who of WHO) {
        await row.before?.();
        const res = await api(row.method, row.path(), keys[who], row.body);
        got[who] = res.status;
        if (res.status === 403) {
          expect(res.json).toMatchObject({ statusCode: 403, code: 'FORBIDDEN' });
          expect(String(res.json.message)).not.toContain('\n');
        }
      }
      expect(got).toEqual(row.expect);
    });
  }

  it('lists to a reach key only its own agents, and to a listed key only its services', async () => {
    const ids = (list: unknown): string[] => (list as { id: string }[]).map((a) => a.id);
    const seenByReach = ids((await api('GET', '/v1/agents', keys.reach)).json);
    expect(seenByReach).toContain(agents.reach.id);
    expect(seenByReach).not.toContain(agents.agent.id);
    expect(seenByReach).not.toContain(agents.admin.id);
    expect(ids((await api('GET', '/v1/agents', keys.agent)).json)).toContain(agents.admin.id);
    const names = (list: unknown): string[] => (list as { name: string }[]).map((s) => s.name);
    expect(names((await api('GET', '/v1/services', keys.listed)).json)).toEqual(['svc-a']);
    expect(names((await api('GET', '/v1/services', keys.reach)).json)).toEqual(
      expect.arrayContaining(['svc-a', 'svc-b', 'svc-admin']),
    );
    expect((await api('GET', '/v1/services', keys.other)).json).toEqual([]);
    expect((await api('GET', '/v1/whoami', keys.listed)).json).toMatchObject({
      role: 'reach',
      services: ['svc-a'],
    });
  });

  it('never shows an agent secret or its hash after registration', async () => {
    const list = JSON.stringify((await api('GET', '/v1/agents', keys.admin)).json);
    expect(list).not.toMatch(/secret/i);
    expect(list).not.toContain(agents.agent.secret);
  });
});

describe('the upgrade × every key', () => {
  const as = (who: Who, agent: { id: string; secret: string }) => ({
    'x-api-key': keys[who],
    'x-agent-id': agent.id,
    'x-agent-secret': agent.secret,
  });

  it("connects as the agent key's agent only with that key or an admin key", async () => {
    const got: Partial<Record<Who, number>> = {};
    for (const who of WHO) got[who] = await upgrade(as(who, agents.agent));
    expect(got).toEqual({
      admin: 101,
      agent: 101,
      reach: 403,
      listed: 403,
      other: 404,
      revoked: 401,
      expired: 401,
    });
  });

  it('connects a reach key as its own agent', async () => {
    expect(await upgrade(as('reach', agents.reach))).toBe(101);
    expect(await upgrade(as('agent', agents.reach))).toBe(403);
    expect(await upgrade(as('admin', agents.reach))).toBe(101);
  });

  it('refuses an agent id without its secret, or with another agent’s', async () => {
    const { 'x-agent-secret': _secret, ...noSecret } = as('agent', agents.agent);
    expect(await upgrade(noSecret)).toBe(401);
    expect(await upgrade({ ...noSecret, 'x-agent-secret': agents.admin.secret })).toBe(401);
    expect(await upgrade({ ...noSecret, 'x-agent-secret': 'as_' + 'A'.repeat(43) })).toBe(401);
  });
});

describe('CONTROL ops and OPEN × role', () => {
  const expose = (name: string) => ({ op: 'expose', name, targetHost: 'localhost', targetPort: 9 }) as const;

  it('lets admin and agent sessions expose and unexpose, and refuses reach sessions', async () => {
    await expect(adminConn.request(expose('ctl-admin'))).resolves.toMatchObject({ ok: true });
    await expect(
      adminConn.request({ op: 'unexpose', name: 'ctl-admin', remove: true }),
    ).resolves.toMatchObject({ ok: true });
    await expect(agentConn.request(expose('ctl-agent'))).resolves.toMatchObject({ ok: true });
    await expect(
      agentConn.request({ op: 'unexpose', name: 'ctl-agent', remove: true }),
    ).resolves.toMatchObject({ ok: true });
    for (const conn of [reachConn, listedConn]) {
      await expect(conn.request(expose('ctl-reach'))).rejects.toMatchObject({
        code: 'FORBIDDEN',
        message: 'a reach key may not expose services',
      });
      await expect(conn.request({ op: 'unexpose', name: 'svc-a', remove: true })).rejects.toMatchObject({
        code: 'FORBIDDEN',
        message: 'a reach key may not unexpose services',
      });
    }
    expect((await api('GET', '/v1/services/svc-a', keys.admin)).json).toMatchObject({ status: 'online' });
  });

  it('lets every role reach, and a listed key only its listed services', async () => {
    // A session cannot reach what it serves itself (the hub does not splice a session to itself).
    expect(await reach(adminConn, 'svc-a')).toBe('ok');
    expect(await reach(agentConn, 'svc-admin')).toBe('ok');
    for (const name of ['svc-a', 'svc-b', 'svc-admin']) expect(await reach(reachConn, name)).toBe('ok');
    expect(await reach(listedConn, 'svc-a')).toBe('ok');
    expect(await reach(listedConn, 'svc-b')).toBe(
      "this API key may not reach 'svc-b' (not in its service list)",
    );
    expect(await reach(listedConn, 'svc-admin')).toMatch(/may not reach 'svc-admin'/);
  });

  it("hands a secretless (pre-credentials) agent's service to an admin key's agent only", async () => {
    const team = await hub.store.ensureWorkspace('team');
    await hub.store.createAgent({ id: 'agent_legacy', workspaceId: team.id, label: 'old-box', name: null });
    await hub.store.insertService({
      id: 'svc_legacy',
      workspaceId: team.id,
      agentId: 'agent_legacy',
      name: 'legacy-db' as ServiceName,
      targetHost: 'localhost',
      targetPort: 9,
      tunnelPort: 1,
      protocol: 'tcp',
    });
    await expect(agentConn.request(expose('legacy-db'))).rejects.toMatchObject({ code: 'CONFLICT' });
    await expect(adminConn.request(expose('legacy-db'))).resolves.toMatchObject({
      service: { name: 'legacy-db', agentId: agents.admin.id },
    });
    await adminConn.request({ op: 'unexpose', name: 'legacy-db', remove: true });
  });

  it('opens a share session that reaches its one service only, and ends with the key that created it', async () => {
    const sharer = await createKey('team', { role: 'agent' });
    const { status, json } = await api('POST', '/v1/shares', sharer, {
      service: 'svc-a',
      expiresInMs: 60_000,
    });
    expect(status).toBe(201);
    const conn = new HubConnection({
      hubUrl: hub.url,
      apiKey: formatShareToken(hub.url, String(json.id), String(json.secret)),
      agentId: 'share',
      kind: 'test',
    });
    conns.push(conn);
    await conn.start(true);
    expect(await reach(conn, 'svc-a')).toBe('ok');
    expect(await reach(conn, 'svc-b')).toBe(
      "access to 'svc-b' refused: this share token reaches only 'svc-a'",
    );
    await expect(conn.request(expose('ctl-share'))).rejects.toMatchObject({ code: 'FORBIDDEN' });
    const closed = new Promise<void>((resolve) => conn.session?.once('close', () => resolve()));
    const started = Date.now();
    await hub.store.revokeApiKey(keyId(sharer));
    await closed;
    expect(Date.now() - started).toBeLessThan(5000);
    conn.stop();
  });

  it('ends the live sessions of a key once it expires, like a revoked one', async () => {
    const soon = await createKey('team', { expiresAt: new Date(Date.now() + 1500).toISOString() });
    const conn = await session(soon, await register(soon, 'short-lived'));
    const closed = new Promise<void>((resolve) => conn.session?.once('close', () => resolve()));
    const started = Date.now();
    await closed;
    expect(Date.now() - started).toBeLessThan(5000);
    conn.stop();
  });
});
