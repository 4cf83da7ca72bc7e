import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import http from 'node:http';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import {
  decodeFrame,
  encodeDataFrame,
  encodeFrame,
  FrameType,
  MAX_FRAME_SIZE,
  type Frame,
} from './frames.js';
import type { MuxSession } from './session.js';
import { bridgeSocket } from './socket-bridge.js';
import { frameHeader, MAX_FRAGMENTS_PER_MESSAGE, WsFrameReader, WsOpcode } from './ws-codec.js';
import {
  acceptValue,
  answerUpgrade,
  openHubLink,
  openWebSocket,
  UpgradeRefusedError,
} from './ws-handshake.js';
import { attachWebSocket } from './ws-transport.js';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

async function listen(server: net.Server | http.Server | WebSocketServer): Promise<number> {
  if (server instanceof WebSocketServer) {
    await once(server, 'listening');
    return (server.address() as net.AddressInfo).port;
  }
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  cleanups.push(() => new Promise((r) => server.close(r)));
  return (server.address() as net.AddressInfo).port;
}

/** An HTTP server that upgrades every request (as the hub's gateway does) and runs a server-role session on it. */
async function upgradeServer(onSession: (session: MuxSession) => void): Promise<number> {
  const server = http.createServer((_req, res) => res.writeHead(404).end());
  const sockets = new Set<net.Socket>();
  server.on('upgrade', (req: http.IncomingMessage, socket: net.Socket, head: Buffer) => {
    sockets.add(socket);
    const answer = answerUpgrade(req);
    if ('error' in answer) {
      socket.end(`HTTP/1.1 400 Bad Request\r\nContent-Length: ${answer.error.length}\r\n\r\n${answer.error}`);
      return;
    }
    socket.write(answer.response);
    onSession(attachWebSocket(socket, head, { role: 'server', label: 'hub' }));
  });
  const port = await listen(server);
  cleanups.push(() => sockets.forEach((s) => s.destroy()));
  return port;
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

  let hub: MuxSession | undefined;
  const wsPort = await upgradeServer((session) => {
    hub = session;
    hub.on('open', (req: { accept(): ReturnType<MuxSession['openStream']> }) => {
      const stream = req.accept();
      const socket = net.connect({ port: targetPort, host: '127.0.0.1', allowHalfOpen: true });
      socket.once('connect', () => stream.accept());
      bridgeSocket(stream, socket);
    });
  });

  const { socket, head } = await openWebSocket(`ws://127.0.0.1:${wsPort}/`, { headers: {}, timeoutMs: 5000 });
  const agent = attachWebSocket(socket, head, { role: 'client', label: 'agent' });
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

  it('closes the session with 1003 on a text message from a standard WebSocket client', async () => {
    const errors: unknown[] = [];
    const port = await upgradeServer((session) => session.on('error', (e) => errors.push(e)));
    const ws = new WebSocket(`ws://127.0.0.1:${port}/`);
    await once(ws, 'open');
    ws.send('not a frame');
    const [code] = (await once(ws, 'close')) as [number];
    expect(code).toBe(1003);
    expect(errors).toHaveLength(1);
  });

  it('closes the session with 1002 on a malformed frame, and the server keeps serving', async () => {
    const errors: unknown[] = [];
    const port = await upgradeServer((session) => session.on('error', (e) => errors.push(e)));
    const ws = new WebSocket(`ws://127.0.0.1:${port}/`);
    await once(ws, 'open');
    ws.send(Buffer.from([0xff, 0, 0, 0, 0, 1])); // unknown frame type
    const [code] = (await once(ws, 'close')) as [number];
    expect(code).toBe(1002);
    const again = new WebSocket(`ws://127.0.0.1:${port}/`);
    await once(again, 'open');
    again.close();
    expect(errors).toHaveLength(1);
  });

  it('reads frames of a standard client (random masking keys, fragmented messages) byte exact', async () => {
    const received: Buffer[] = [];
    let ended!: () => void;
    const done = new Promise<void>((r) => (ended = r));
    await upgradeServer((session) =>
      session.on('open', (req: { accept(): ReturnType<MuxSession['openStream']> }) => {
        const stream = req.accept();
        stream.on('data', (d: Buffer) => {
          received.push(Buffer.from(d));
          stream.consumed(d.length);
        });
        stream.on('end', ended);
      }),
    ).then(async (port) => {
      const ws = new WebSocket(`ws://127.0.0.1:${port}/`, { perMessageDeflate: false });
      await once(ws, 'open');
      cleanups.push(() => ws.terminate());
      ws.send(encodeFrame({ type: FrameType.OPEN, streamId: 1, window: 64 * 1024 * 1024, meta: {} }));
      const sent: Buffer[] = [];
      for (const size of [1, 125, 126, 127, 65_535, 65_536, 200_000, 1_000_000]) {
        const payload = randomBytes(size);
        sent.push(payload);
        const frame = encodeDataFrame(1, payload);
        if (size === 200_000) {
          // One mux frame as three WebSocket fragments.
          ws.send(frame.subarray(0, 3), { fin: false });
          ws.send(frame.subarray(3, 100_000), { fin: false });
          ws.send(frame.subarray(100_000), { fin: true });
        } else {
          ws.send(frame);
        }
      }
      ws.send(encodeFrame({ type: FrameType.FIN, streamId: 1 }));
      await done;
      expect(sha(Buffer.concat(received))).toBe(sha(Buffer.concat(sent)));
    });
  });

  it('writes frames a standard WebSocket server reads: masked, one mux frame per message', async () => {
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, maxPayload: MAX_FRAME_SIZE });
    const port = await listen(wss);
    cleanups.push(() => new Promise((r) => wss.close(r)));
    const frames: Frame[] = [];
    let total = 0;
    const payload = randomBytes(3_000_000);
    const got = new Promise<void>((resolve, reject) =>
      wss.on('connection', (ws) =>
        ws.on('message', (data: Buffer) => {
          try {
            const frame = decodeFrame(data);
            frames.push(frame);
            if (frame.type === FrameType.DATA) total += frame.payload.length;
            if (frame.type === FrameType.FIN) resolve();
          } catch (err) {
            reject(err instanceof Error ? err : new Error(String(err)));
          }
        }),
      ),
    );
    const { socket, head } = await openWebSocket(`ws://127.0.0.1:${port}/`, { headers: {}, timeoutMs: 5000 });
    const agent = attachWebSocket(socket, head, { role: 'client', label: 'agent', initialWindow: 8_000_000 });
    cleanups.push(() => agent.close());
    const stream = agent.openStream({ service: 'x' });
    stream.write(payload.subarray(0, 10));
    stream.write(payload.subarray(10));
    stream.end();
    await got;
    expect(total).toBe(payload.length);
    expect(frames[0]).toMatchObject({ type: FrameType.OPEN, streamId: 1 });
    // Unmasked by ws with the random keys: byte exact, and the caller's buffer was not masked in place.
    const data = frames.flatMap((f) => (f.type === FrameType.DATA ? [f.payload] : []));
    expect(sha(Buffer.concat(data))).toBe(sha(payload));
  });

  it('masks each client frame with its own random key on the wire, never in the buffers it was given', async () => {
    // A bare TCP server that accepts the upgrade and records every byte the agent writes.
    const raw: Buffer[] = [];
    const mux: Frame[] = [];
    let sawFin!: () => void;
    const finished = new Promise<void>((r) => (sawFin = r));
    const reader = new WsFrameReader(
      {
        onMessage: (parts) => {
          const frame = decodeFrame(Buffer.concat(parts));
          mux.push(frame);
          if (frame.type === FrameType.FIN) sawFin();
        },
        onPing: () => undefined,
        onPong: () => undefined,
        onClose: () => undefined,
        onViolation: (message) => {
          throw new Error(message);
        },
      },
      { expectMasked: true, maxMessage: MAX_FRAME_SIZE },
    );
    const server = net.createServer((socket) =>
      socket.once('data', (request: Buffer) => {
        const key = /sec-websocket-key: (\S+)/i.exec(request.toString())![1]!;
        socket.write(
          'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
            `Sec-WebSocket-Accept: ${acceptValue(key)}\r\n\r\n`,
        );
        socket.on('data', (chunk: Buffer) => {
          raw.push(Buffer.from(chunk)); // before the reader unmasks it in place
          reader.push(chunk);
        });
      }),
    );
    const port = await listen(server);
    const { socket, head } = await openWebSocket(`ws://127.0.0.1:${port}/`, { headers: {}, timeoutMs: 5000 });
    const agent = attachWebSocket(socket, head, { role: 'client', label: 'agent', initialWindow: 8_000_000 });
    cleanups.push(() => agent.close());
    const stream = agent.openStream({ service: 'x' });
    // The same buffers written twice, a small (copied) frame and large ones: both must arrive as they were.
    const small = Buffer.from('hello, twice');
    const large = randomBytes(300_000);
    const smallCopy = Buffer.from(small);
    const largeCopy = Buffer.from(large);
    stream.write(small);
    stream.write(small);
    stream.write(large);
    stream.write(large);
    stream.end();
    await finished;
    expect(small.equals(smallCopy)).toBe(true);
    expect(large.equals(largeCopy)).toBe(true);
    const data = mux.flatMap((f) => (f.type === FrameType.DATA ? [f.payload] : []));
    expect(sha(Buffer.concat(data))).toBe(sha(Buffer.concat([small, small, large, large])));

    // Walk the frames as they were on the wire: every one masked, each with a non-zero key of its own.
    const wire = Buffer.concat(raw);
    const keys: number[] = [];
    let plainOnWire = 0;
    for (let at = 0; at < wire.length;) {
      const b1 = wire[at + 1]!;
      expect(b1 & 0x80).toBe(0x80);
      let length = b1 & 0x7f;
      let next = at + 2;
      if (length === 126) {
        length = wire.readUInt16BE(next);
        next += 2;
      } else if (length === 127) {
        length = Number(wire.readBigUInt64BE(next));
        next += 8;
      }
      keys.push(wire.readUInt32BE(next));
      const payloadOnWire = wire.subarray(next + 4, next + 4 + length);
      if (payloadOnWire.includes(small) || payloadOnWire.includes(large.subarray(0, 64))) plainOnWire++;
      at = next + 4 + length;
    }
    expect(keys.length).toBeGreaterThanOrEqual(mux.length);
    expect(keys).not.toContain(0);
    expect(new Set(keys).size).toBe(keys.length);
    expect(plainOnWire).toBe(0);
  });

  it('closes with 1008 on a message in more than 1024 fragments, and reads one in exactly 1024', async () => {
    const errors: unknown[] = [];
    const opened: unknown[] = [];
    const port = await upgradeServer((session) => {
      session.on('error', (e) => errors.push(e));
      session.on('open', (req: { accept(): ReturnType<MuxSession['openStream']> }) =>
        opened.push(req.accept()),
      );
    });
    const open = encodeFrame({ type: FrameType.OPEN, streamId: 1, window: 65_536, meta: { service: 'x' } });
    /** `frame` sent by a standard client as one message in `count` fragments (most of them empty). */
    const sendFragmented = (ws: WebSocket, frame: Buffer, count: number) => {
      for (let k = 0; k < count; k++) {
        const piece = frame.subarray(
          Math.floor((frame.length * k) / count),
          Math.floor((frame.length * (k + 1)) / count),
        );
        ws.send(piece, { fin: k === count - 1 });
      }
    };

    const good = new WebSocket(`ws://127.0.0.1:${port}/`);
    await once(good, 'open');
    cleanups.push(() => good.terminate());
    sendFragmented(good, open, MAX_FRAGMENTS_PER_MESSAGE);
    const pong = once(good, 'pong'); // answered after the OPEN was read: the session is still up
    good.ping();
    await pong;
    expect(opened).toHaveLength(1);

    const bad = new WebSocket(`ws://127.0.0.1:${port}/`);
    await once(bad, 'open');
    sendFragmented(bad, open, MAX_FRAGMENTS_PER_MESSAGE + 1);
    const [code, reason] = (await once(bad, 'close')) as [number, Buffer];
    expect(code).toBe(1008);
    expect(reason.toString()).toBe('message in more than 1024 fragments');
    expect(errors).toHaveLength(1);
    expect(opened).toHaveLength(1);
  });

  it('reports a refused upgrade with its status and body', async () => {
    const server = http.createServer((_req, res) => res.writeHead(401).end('{"message":"no"}'));
    const port = await listen(server);
    const err = await openWebSocket(`ws://127.0.0.1:${port}/`, { headers: {}, timeoutMs: 5000 }).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(UpgradeRefusedError);
    expect(err).toMatchObject({ status: 401, body: '{"message":"no"}' });
  });

  describe('openHubLink (the agent: fast path, then WebSocket)', () => {
    /**
     * A server that upgrades WebSockets and answers anything else with `refusal` (400: as proxies that pass only
     * WebSockets do; 401: as the hub does to a bad key), recording each request's Upgrade header.
     */
    async function answering(
      refusal: number,
      opts: { websocket: boolean },
    ): Promise<{ port: number; upgrades: string[] }> {
      const upgrades: string[] = [];
      const server = http.createServer((_req, res) => res.writeHead(404).end());
      server.on('upgrade', (req: http.IncomingMessage, socket: net.Socket) => {
        upgrades.push(String(req.headers.upgrade));
        cleanups.push(() => socket.destroy()); // an upgraded socket would keep server.close() waiting
        const answer = answerUpgrade(req);
        if (opts.websocket && 'response' in answer && answer.framing === 'websocket')
          socket.write(answer.response);
        else socket.end(`HTTP/1.1 ${refusal} No\r\nContent-Length: 2\r\nConnection: close\r\n\r\nno`);
      });
      return { port: await listen(server), upgrades };
    }

    it('asks again as a WebSocket when something refuses private-connect, and says why', async () => {
      const { port, upgrades } = await answering(400, { websocket: true });
      const why: unknown[] = [];
      const link = await openHubLink(`ws://127.0.0.1:${port}/`, {
        headers: {},
        timeoutMs: 5000,
        preferFast: true,
        onFallback: (err) => why.push(err),
      });
      link.socket.destroy();
      expect(link.framing).toBe('websocket');
      expect(upgrades).toEqual(['private-connect', 'websocket']);
      expect(why[0]).toBeInstanceOf(UpgradeRefusedError);
    });

    it("does not ask twice after the hub's own definitive refusal (401)", async () => {
      const { port, upgrades } = await answering(401, { websocket: false });
      const err = await openHubLink(`ws://127.0.0.1:${port}/`, {
        headers: {},
        timeoutMs: 5000,
        preferFast: true,
      }).catch((e: unknown) => e);
      expect(err).toMatchObject({ status: 401 });
      expect(upgrades).toEqual(['private-connect']);
    });

    it('does not ask twice where nothing listens', async () => {
      const server = net.createServer();
      const port = await listen(server);
      await new Promise((r) => server.close(r));
      let fellBack = false;
      const err = await openHubLink(`ws://127.0.0.1:${port}/`, {
        headers: {},
        timeoutMs: 5000,
        preferFast: true,
        onFallback: () => (fellBack = true),
      }).catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'ECONNREFUSED' });
      expect(fellBack).toBe(false);
    });
  });

  it('gives up on a server that accepts the connection but never answers the upgrade', async () => {
    const silent = net.createServer((socket) => socket.resume()); // reads, never answers
    const port = await listen(silent);
    const started = Date.now();
    const err = await openWebSocket(`ws://127.0.0.1:${port}/`, { headers: {}, timeoutMs: 300 }).catch(
      (e: unknown) => e,
    );
    expect((err as Error).message).toMatch(/no answer to the WebSocket upgrade within 300 ms/);
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it('refuses a server whose 101 carries the wrong Sec-WebSocket-Accept', async () => {
    const liar = net.createServer((socket) =>
      socket.once('data', () =>
        socket.write(
          'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
            'Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n',
        ),
      ),
    );
    const port = await listen(liar);
    const err = await openWebSocket(`ws://127.0.0.1:${port}/`, { headers: {}, timeoutMs: 5000 }).catch(
      (e: unknown) => e,
    );
    expect((err as Error).message).toMatch(/wrong Sec-WebSocket-Accept/);
  });

  it('delivers frames that came in the same packet as the 101 to listeners attached after attachWebSocket', async () => {
    const eager = net.createServer((socket) =>
      socket.once('data', (request: Buffer) => {
        const key = /sec-websocket-key: (\S+)/i.exec(request.toString())![1]!;
        const control = encodeFrame({ type: FrameType.CONTROL, streamId: 0, msg: { op: 'hello' } });
        const [header] = frameHeader(WsOpcode.BINARY, control.length, false, 0);
        socket.write(
          Buffer.concat([
            Buffer.from(
              'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
                `Sec-WebSocket-Accept: ${acceptValue(key)}\r\n\r\n`,
            ),
            header,
            control,
          ]),
        );
      }),
    );
    const port = await listen(eager);
    const { socket, head } = await openWebSocket(`ws://127.0.0.1:${port}/`, { headers: {}, timeoutMs: 5000 });
    expect(head.length).toBeGreaterThan(0); // the frame really rode with the 101
    const agent = attachWebSocket(socket, head, { role: 'client', label: 'agent' });
    cleanups.push(() => agent.close());
    const [msg] = (await once(agent, 'control')) as [Record<string, unknown>];
    expect(msg).toEqual({ op: 'hello' });
  });

  it('refuses an upgrade without a valid Sec-WebSocket-Key', async () => {
    const port = await upgradeServer(() => undefined);
    const res = await new Promise<http.IncomingMessage>((resolve, reject) => {
      const req = http.request({
        port,
        host: '127.0.0.1',
        headers: { Connection: 'Upgrade', Upgrade: 'websocket', 'Sec-WebSocket-Version': '13' },
      });
      req.on('response', resolve);
      req.on('upgrade', () => reject(new Error('upgraded without a key')));
      req.on('error', reject);
      req.end();
    });
    expect(res.statusCode).toBe(400);
  });
});
