import { afterAll, describe, expect, it } from 'vitest';
import { createServer, type Server } from 'node:http';
import { HubApi } from './hub-api.js';

/** Ports fetch() refuses ("bad ports" of the WHATWG fetch spec) that an unprivileged process may still bind. */
const FETCH_BLOCKED_PORTS = [6000, 6566, 6665, 6666, 6667, 6668, 6669, 6679, 6697, 10080, 5060, 5061, 4190];

const servers: Server[] = [];

/** A stand-in hub answering /v1/whoami, on the first blocked port that is free here. */
async function hubOnBlockedPort(): Promise<number | undefined> {
  for (const port of FETCH_BLOCKED_PORTS) {
    const server = createServer((req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ workspace: 'default', workspaceId: 'ws_1', keyId: 'k', path: req.url }));
    });
    const bound = await new Promise<boolean>((resolve) => {
      server.once('error', () => resolve(false));
      server.listen(port, '127.0.0.1', () => resolve(true));
    });
    if (bound) {
      servers.push(server);
      return port;
    }
  }
  return undefined;
}

afterAll(async () => {
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
});

describe('HubApi', () => {
  it('talks to a hub on a port that fetch() would refuse as a "bad port"', async (ctx) => {
    const port = await hubOnBlockedPort();
    if (port === undefined) {
      // Nothing to prove without such a port: a skip, reported as one, with its reason.
      const reason = 'every fetch-blocked port is taken on this machine';
      console.warn(`[skip] ${reason}`);
      ctx.skip(reason);
    }
    const me = await new HubApi(`http://127.0.0.1:${port}`, 'tok').whoami();
    expect(me).toMatchObject({ workspace: 'default', path: '/v1/whoami' });
  });

  it('takes the error code from the body, and the status only when the body has none of ours', async () => {
    const server = createServer((req, res) => {
      const conflict = req.url === '/v1/agents';
      res.writeHead(conflict ? 409 : 404, { 'content-type': 'application/json' });
      res.end(
        conflict
          ? JSON.stringify({ statusCode: 409, code: 'CONFLICT', message: 'taken' })
          : JSON.stringify({ message: 'gone' }),
      );
    });
    servers.push(server);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const { port } = server.address() as { port: number };
    const api = new HubApi(`http://127.0.0.1:${port}`, 'tok');
    await expect(api.registerAgent('desk')).rejects.toMatchObject({
      code: 'CONFLICT',
      message: 'hub error: taken',
    });
    await expect(api.agent('a')).rejects.toMatchObject({ code: 'NOT_FOUND', message: 'hub error: gone' });
  });

  it('says "connection refused" when nothing listens', async () => {
    const server = createServer();
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const { port } = server.address() as { port: number };
    await new Promise((r) => server.close(r));
    await expect(new HubApi(`http://127.0.0.1:${port}`, 'tok').whoami()).rejects.toThrow(
      /cannot reach the hub at .*: connection refused/,
    );
  });
});
