import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import { MAX_FRAME_SIZE } from './frames.js';
import type { MuxSession } from './session.js';
import { bridgeSocket } from './socket-bridge.js';
import { attachWebSocket, WS_SUBPROTOCOL } from './ws-transport.js';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

async function listen(server: net.Server | WebSocketServer): Promise<number> {
  if (server instanceof WebSocketServer) {
    await once(server, 'listening');
    return (server.address() as net.AddressInfo).port;
  }
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  cleanups.push(() => new Promise((r) => server.close(r)));
  return (server.address() as net.AddressInfo).port;
}

/**
 * The whole path on real sockets: TCP client → reach listener → agent session ══ws══ hub-side session → target.
 * `target` handles the connection the far side dials.
 */
async function tunnel(
  target: (socket: net.Socket) => void,
): Promise<{ port: number; hub: () => MuxSession }> {
  const targetServer = net.createServer({ allowHalfOpen: true }, (socket) => {
    socket.on('error', () => undefined); // torn down by resets in some tests
    target(socket);
  });
  const targetPort = await listen(targetServer);

  const wss = new WebSocketServer({
    host: '127.0.0.1',
    port: 0,
    maxPayload: MAX_FRAME_SIZE,
    // The version check the hub does at the upgrade: no matching subprotocol, no session.
    handleProtocols: (protocols) => (protocols.has(WS_SUBPROTOCOL) ? WS_SUBPROTOCOL : false),
  });
  let hub: MuxSession | undefined;
  wss.on('connection', (ws) => {
    hub = attachWebSocket(ws, { role: 'server', label: 'hub' });
    hub.on('open', (req: { accept(): ReturnType<MuxSession['openStream']> }) => {
      const stream = req.accept();
      const socket = net.connect({ port: targetPort, host: '127.0.0.1', allowHalfOpen: true });
      socket.once('connect', () => stream.accept());
      bridgeSocket(stream, socket);
    });
  });
  const wsPort = await listen(wss);
  cleanups.push(() => new Promise((r) => wss.close(r)));

  const ws = new WebSocket(`ws://127.0.0.1:${wsPort}`, [WS_SUBPROTOCOL], {
    perMessageDeflate: false,
    maxPayload: MAX_FRAME_SIZE,
  });
  await once(ws, 'open');
  const agent = attachWebSocket(ws, { role: 'client', label: 'agent' });
  cleanups.push(() => agent.close());

  const reach = net.createServer({ allowHalfOpen: true }, (socket) => {
    bridgeSocket(agent.openStream({ service: 'target' }), socket);
  });
  const port = await listen(reach);
  return { port, hub: () => hub! };
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** Connects, sends `payload`, half-closes, and resolves with everything received until the server's FIN. */
async function exchange(port: number, payload: Buffer): Promise<Buffer> {
  const socket = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
  await once(socket, 'connect');
  const chunks: Buffer[] = [];
  socket.on('data', (d: Buffer) => chunks.push(d));
  const ended = once(socket, 'end');
  socket.end(payload);
  await ended;
  socket.destroy();
  return Buffer.concat(chunks);
}

describe('ws transport on real sockets', () => {
  it('echoes 20 MB through bridgeSocket, byte exact', async () => {
    const { port, hub } = await tunnel((socket) => socket.pipe(socket));
    const payload = randomBytes(20 * 1024 * 1024);
    const echoed = await exchange(port, payload);
    expect(echoed.length).toBe(payload.length);
    expect(sha(echoed)).toBe(sha(payload));
    // Memory stayed bounded: nothing left buffered once the stream is done.
    expect(hub().stats()).toMatchObject({ queuedBytes: 0, unconsumedBytes: 0 });
  });

  it('carries TCP half-close: the target answers only after the client FIN', async () => {
    const { port } = await tunnel((socket) => {
      const hash = createHash('sha256');
      let n = 0;
      socket.on('data', (d: Buffer) => {
        hash.update(d);
        n += d.length;
      });
      socket.on('end', () => socket.end(`${n} ${hash.digest('hex')}`)); // replies after our FIN arrived
    });
    const payload = randomBytes(3 * 1024 * 1024 + 11);
    const reply = await exchange(port, payload);
    expect(reply.toString()).toBe(`${payload.length} ${sha(payload)}`);
  });

  it('resets the client connection when the target refuses', async () => {
    const { port, hub } = await tunnel(() => undefined);
    // Make the hub dial a closed port by closing the target listener first.
    const closedPort = await (async () => {
      const s = net.createServer();
      s.listen(0, '127.0.0.1');
      await once(s, 'listening');
      const p = (s.address() as net.AddressInfo).port;
      await new Promise((r) => s.close(r));
      return p;
    })();
    hub().removeAllListeners('open');
    hub().on('open', (req: { accept(): ReturnType<MuxSession['openStream']> }) => {
      bridgeSocket(req.accept(), net.connect({ port: closedPort, host: '127.0.0.1', allowHalfOpen: true }));
    });
    const socket = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
    let error: NodeJS.ErrnoException | undefined;
    socket.on('error', (e) => (error = e));
    socket.write('hello');
    await new Promise((r) => socket.on('close', r));
    // A reset stream shows up as a TCP reset, not a clean EOF the client could mistake for a complete answer.
    expect(error?.code).toBe('ECONNRESET');
  });

  it('closes the session with 1002 on a text message', async () => {
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    const port = await listen(wss);
    cleanups.push(() => new Promise((r) => wss.close(r)));
    const errors: unknown[] = [];
    wss.on('connection', (ws) => {
      const session = attachWebSocket(ws, { role: 'server' });
      session.on('error', (e) => errors.push(e));
    });
    const ws = new WebSocket(`ws://127.0.0.1:${port}`);
    await once(ws, 'open');
    ws.send('not a frame');
    const [code] = (await once(ws, 'close')) as [number];
    expect(code).toBe(1002);
    expect(errors).toHaveLength(1);
  });
});
