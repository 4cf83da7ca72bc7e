/** Real TCP servers for end-to-end tests, each on 127.0.0.1 port 0. */
import { createHash, randomBytes } from 'node:crypto';
import { connect, createServer, type Server, type Socket } from 'node:net';

export interface RunningServer {
  server: Server;
  port: number;
  close(): Promise<void>;
}

async function listen(server: Server): Promise<RunningServer> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const sockets = new Set<Socket>();
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  return {
    server,
    port: (server.address() as { port: number }).port,
    close: () =>
      new Promise((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

/** Echoes every byte back, honouring half-close (ends its side when the client ends). */
export function echoServer(): Promise<RunningServer> {
  return listen(
    createServer({ allowHalfOpen: true }, (s) => {
      s.on('error', () => s.destroy());
      s.pipe(s);
    }),
  );
}

/** Reads everything until the client half-closes, then replies with `replyBytes` of data and its sha256. */
export function replyAfterEndServer(
  replyBytes: number,
): Promise<RunningServer & { received: () => string[] }> {
  const receivedHashes: string[] = [];
  const server = createServer({ allowHalfOpen: true }, (s) => {
    s.on('error', () => s.destroy());
    const hash = createHash('sha256');
    s.on('data', (d: Buffer) => hash.update(d));
    s.on('end', () => {
      receivedHashes.push(hash.digest('hex'));
      const reply = Buffer.alloc(replyBytes, 7);
      s.end(reply);
    });
  });
  return listen(server).then((r) => ({ ...r, received: () => receivedHashes }));
}

/** Writes as fast as the socket accepts, counting what it managed to hand to the kernel. */
export function firehoseServer(): Promise<RunningServer & { written: () => number }> {
  let written = 0;
  const chunk = randomBytes(64 * 1024);
  const server = createServer((s) => {
    s.on('error', () => s.destroy());
    const pump = (): void => {
      while (!s.destroyed && s.write(chunk)) written += chunk.length;
      if (!s.destroyed) written += chunk.length;
    };
    s.on('drain', pump);
    pump();
  });
  return listen(server).then((r) => ({ ...r, written: () => written }));
}

/** Sends `bytes` random bytes, half-closes, and returns the sha256 of what was sent and what came back. */
export function roundTrip(
  port: number,
  bytes: number,
): Promise<{ sent: string; received: string; receivedBytes: number }> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, allowHalfOpen: true });
    const sentHash = createHash('sha256');
    const recvHash = createHash('sha256');
    let receivedBytes = 0;
    let remaining = bytes;
    const chunkSize = 256 * 1024;
    const write = (): void => {
      while (remaining > 0) {
        const chunk = randomBytes(Math.min(chunkSize, remaining));
        remaining -= chunk.length;
        sentHash.update(chunk);
        if (!socket.write(chunk)) {
          socket.once('drain', write);
          return;
        }
      }
      socket.end();
    };
    socket.on('connect', write);
    socket.on('data', (d: Buffer) => {
      receivedBytes += d.length;
      recvHash.update(d);
    });
    socket.on('end', () => {
      socket.end();
      resolve({ sent: sentHash.digest('hex'), received: recvHash.digest('hex'), receivedBytes });
    });
    socket.on('error', reject);
  });
}
