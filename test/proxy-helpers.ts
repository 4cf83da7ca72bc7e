import type { IncomingMessage } from 'node:http';
import { createHash } from 'node:crypto';
/** Helpers for the proxy and dev e2e tests: free ports, HTTP requests with a Host header. */
import http, { type IncomingHttpHeaders } from 'node:http';
import net from 'node:net';
import type { Readable } from 'node:stream';

/** A port that was free a moment ago (bound on 127.0.0.1 then released). */
export async function freePort(): Promise<number> {
  const [port] = await freePorts(1);
  return port ?? 0;
}

/**
 * `count` distinct free ports: every listener stays open until all are picked, because the OS may hand a port
 * just closed to the next listen (two "free ports" taken one after the other can be the same one).
 */
export async function freePorts(count: number): Promise<number[]> {
  const listeners = await Promise.all(
    Array.from(
      { length: count },
      () =>
        new Promise<net.Server>((resolve, reject) => {
          const s = net.createServer();
          s.once('error', reject);
          s.listen(0, '127.0.0.1', () => resolve(s));
        }),
    ),
  );
  const ports = listeners.map((s) => (s.address() as net.AddressInfo).port);
  await Promise.all(listeners.map((s) => new Promise((resolve) => s.close(resolve))));
  return ports;
}

export interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
  reusedSocket: boolean;
}

/** An HTTP request to 127.0.0.1:port with `Host: <host>` (what curl http://<host>/ sends through *.localhost). */
export function request(
  port: number,
  host: string,
  opts: {
    path?: string;
    method?: string;
    headers?: Record<string, string>;
    body?: Readable | string;
    agent?: http.Agent;
  } = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        path: opts.path ?? '/',
        method: opts.method ?? 'GET',
        headers: { host, ...opts.headers },
        agent: opts.agent ?? false,
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body,
            reusedSocket: req.reusedSocket,
          }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    if (typeof opts.body === 'string') req.end(opts.body);
    else if (opts.body) opts.body.pipe(req);
    else req.end();
  });
}

/** Deterministic chunks of pseudo-random bytes, `total` bytes in all, generated lazily (never held whole). */
export function* byteChunks(total: number, chunk = 64 * 1024): Generator<Buffer> {
  let seed = 12345;
  for (let sent = 0; sent < total; sent += chunk) {
    const n = Math.min(chunk, total - sent);
    const buf = Buffer.allocUnsafe(n);
    for (let i = 0; i < n; i += 4) {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      buf.writeUInt32LE(seed, i);
    }
    yield buf;
  }
}

/** Reads a response to its end, returning the sha256 and length of its body (without keeping it in memory). */
export function hashBody(res: IncomingMessage): Promise<{ hash: string; bytes: number }> {
  return new Promise((resolve, reject) => {
    const h = createHash('sha256');
    let bytes = 0;
    res.on('data', (c: Buffer) => {
      bytes += c.length;
      h.update(c);
    });
    res.on('end', () => resolve({ hash: h.digest('hex'), bytes }));
    res.on('error', reject);
  });
}
