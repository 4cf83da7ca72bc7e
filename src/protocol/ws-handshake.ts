/**
 * The WebSocket opening handshake (RFC 6455 §4) on Node's own HTTP machinery: the hub answers an `upgrade` request
 * with a 101, an agent sends one with `http(s).request`. After it, both sides speak frames on the raw socket through
 * ws-transport.ts. Plain WebSocket on the wire, so HTTP proxies and load balancers that pass WebSockets pass ours.
 */
import { createHash, randomBytes } from 'node:crypto';
import http, { type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import https from 'node:https';
import type { Socket } from 'node:net';

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
/** A Sec-WebSocket-Key is the base64 of 16 bytes. */
const KEY_PATTERN = /^[+/0-9A-Za-z]{22}==$/;
const MAX_ERROR_BODY = 4096;

/** The Sec-WebSocket-Accept value that proves the server read `key`. */
export function acceptValue(key: string): string {
  return createHash('sha1')
    .update(key + GUID)
    .digest('base64');
}

function headerValue(headers: IncomingHttpHeaders, name: string): string {
  const value = headers[name];
  return (Array.isArray(value) ? value[0] : value) ?? '';
}

/**
 * Checks that `req` is a WebSocket upgrade we can accept. Returns the 101 response to write, or why not.
 */
export function answerUpgrade(req: IncomingMessage): { response: string } | { error: string } {
  if (req.method !== 'GET') return { error: 'a WebSocket upgrade must be a GET' };
  if (headerValue(req.headers, 'upgrade').toLowerCase() !== 'websocket') {
    return { error: 'not a WebSocket upgrade (Upgrade: websocket expected)' };
  }
  if (headerValue(req.headers, 'sec-websocket-version') !== '13') {
    return { error: 'unsupported WebSocket version (Sec-WebSocket-Version: 13 expected)' };
  }
  const key = headerValue(req.headers, 'sec-websocket-key');
  if (!KEY_PATTERN.test(key)) return { error: 'missing or malformed Sec-WebSocket-Key' };
  return {
    response:
      'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
      `Sec-WebSocket-Accept: ${acceptValue(key)}\r\n\r\n`,
  };
}

/** The server answered the upgrade with an ordinary HTTP response (an error, usually). */
export class UpgradeRefusedError extends Error {
  constructor(
    readonly status: number,
    readonly statusText: string,
    /** The first 4 KB of the response body. */
    readonly body: string,
  ) {
    super(`${status} ${statusText}`.trim());
  }
}

export interface ClientHandshakeOptions {
  /** Extra request headers (authentication, protocol version). */
  headers: Record<string, string>;
  timeoutMs: number;
  signal?: AbortSignal;
}

/**
 * Opens a WebSocket to `url` (http: / https:, or ws: / wss:). Resolves with the upgraded socket and any bytes the
 * server sent after its 101; rejects with UpgradeRefusedError when the server answered otherwise, or with the
 * network error.
 */
export function openWebSocket(
  url: string,
  opts: ClientHandshakeOptions,
): Promise<{ socket: Socket; head: Buffer }> {
  const target = new URL(url.replace(/^ws/, 'http'));
  const key = randomBytes(16).toString('base64');
  const request = target.protocol === 'https:' ? https.request : http.request;
  return new Promise((resolve, reject) => {
    const req = request(target, {
      method: 'GET',
      // Our own connection: an upgraded socket leaves the HTTP machinery, so it must not come from a pool.
      agent: false,
      signal: opts.signal,
      headers: {
        ...opts.headers,
        Connection: 'Upgrade',
        Upgrade: 'websocket',
        'Sec-WebSocket-Version': '13',
        'Sec-WebSocket-Key': key,
      },
    });
    const timer = setTimeout(() => {
      req.destroy(new Error(`no answer to the WebSocket upgrade within ${opts.timeoutMs} ms`));
    }, opts.timeoutMs);
    req.on('upgrade', (res: IncomingMessage, socket: Socket, head: Buffer) => {
      clearTimeout(timer);
      if (
        headerValue(res.headers, 'upgrade').toLowerCase() !== 'websocket' ||
        headerValue(res.headers, 'sec-websocket-accept') !== acceptValue(key)
      ) {
        socket.destroy();
        reject(new Error('the server answered the WebSocket upgrade with a wrong Sec-WebSocket-Accept'));
        return;
      }
      resolve({ socket, head });
    });
    req.on('response', (res: IncomingMessage) => {
      clearTimeout(timer);
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        if (body.length < MAX_ERROR_BODY) body += chunk.slice(0, MAX_ERROR_BODY - body.length);
      });
      const refuse = (): void =>
        reject(new UpgradeRefusedError(res.statusCode ?? 0, res.statusMessage ?? '', body));
      res.on('end', refuse);
      res.on('error', refuse);
    });
    req.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    req.end();
  });
}
