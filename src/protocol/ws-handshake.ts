/**
 * The WebSocket opening handshake (RFC 6455 §4) on Node's own HTTP machinery: the hub answers an `upgrade` request
 * with a 101, an agent sends one with `http(s).request`. After it, both sides speak frames on the raw socket through
 * ws-transport.ts. Plain WebSocket on the wire, so HTTP proxies and load balancers that pass WebSockets pass ours.
 *
 * The fast path: an agent first asks for `Upgrade: private-connect`, the same handshake (the Sec-WebSocket-Key /
 * Accept pair proves the 101 came from a server that read this request) leading to the same framing without
 * masking (ws-transport.ts). An intermediary that does not pass unknown upgrades refuses it or drops the header;
 * the agent then asks again for a standard WebSocket (openHubLink), and keeps to it.
 */
import { createHash, randomBytes } from 'node:crypto';
import http, { type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import https from 'node:https';
import type { Socket } from 'node:net';

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
/** A Sec-WebSocket-Key is the base64 of 16 bytes. */
const KEY_PATTERN = /^[+/0-9A-Za-z]{22}==$/;
const MAX_ERROR_BODY = 4096;

/** What the two ends speak after the 101: RFC 6455 WebSocket, or the same framing unmasked (see above). */
export type Framing = 'websocket' | 'private-connect';
export const FAST_UPGRADE = 'private-connect';

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
 * Checks that `req` is an upgrade we can accept (a WebSocket, or the private-connect fast path). Returns the 101
 * response to write and the framing it starts, or why not.
 */
export function answerUpgrade(
  req: IncomingMessage,
): { response: string; framing: Framing } | { error: string } {
  if (req.method !== 'GET') return { error: 'a WebSocket upgrade must be a GET' };
  const upgrade = headerValue(req.headers, 'upgrade').toLowerCase();
  if (upgrade !== 'websocket' && upgrade !== FAST_UPGRADE) {
    return { error: `not a WebSocket upgrade (Upgrade: websocket or ${FAST_UPGRADE} expected)` };
  }
  const framing: Framing = upgrade === 'websocket' ? 'websocket' : FAST_UPGRADE;
  if (framing === 'websocket' && headerValue(req.headers, 'sec-websocket-version') !== '13') {
    return { error: 'unsupported WebSocket version (Sec-WebSocket-Version: 13 expected)' };
  }
  const key = headerValue(req.headers, 'sec-websocket-key');
  if (!KEY_PATTERN.test(key)) return { error: 'missing or malformed Sec-WebSocket-Key' };
  return {
    framing,
    response:
      `HTTP/1.1 101 Switching Protocols\r\nUpgrade: ${framing}\r\nConnection: Upgrade\r\n` +
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
  /** What to ask for (default a WebSocket). */
  framing?: Framing;
}

/** The 101 did not come from a server that read our request (a wrong or missing Sec-WebSocket-Accept). */
export class BadUpgradeAnswerError extends Error {}

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
  const framing = opts.framing ?? 'websocket';
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
        Upgrade: framing,
        ...(framing === 'websocket' ? { 'Sec-WebSocket-Version': '13' } : {}),
        'Sec-WebSocket-Key': key,
      },
    });
    const timer = setTimeout(() => {
      req.destroy(new Error(`no answer to the WebSocket upgrade within ${opts.timeoutMs} ms`));
    }, opts.timeoutMs);
    req.on('upgrade', (res: IncomingMessage, socket: Socket, head: Buffer) => {
      clearTimeout(timer);
      if (headerValue(res.headers, 'upgrade').toLowerCase() !== framing) {
        socket.destroy();
        reject(new BadUpgradeAnswerError(`the server upgraded to something other than ${framing}`));
        return;
      }
      if (headerValue(res.headers, 'sec-websocket-accept') !== acceptValue(key)) {
        socket.destroy();
        reject(
          new BadUpgradeAnswerError(
            'the server answered the WebSocket upgrade with a wrong Sec-WebSocket-Accept',
          ),
        );
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

/** Errors that mean no server is reachable at that address: no fallback is worth a second attempt. */
const NO_ROUTE_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH']);

/**
 * The agent's link to the hub: the private-connect fast path when `preferFast`, else (or when something on the
 * way refused it) a standard WebSocket. Errors are the WebSocket attempt's, so a refusal by the hub itself (a bad
 * key, say) reads the same either way. A hub's own definitive answers (401, 426, 429) are not asked twice.
 */
export async function openHubLink(
  url: string,
  opts: Omit<ClientHandshakeOptions, 'framing'> & {
    preferFast: boolean;
    /** Told why the fast path failed, when the WebSocket attempt follows. */
    onFallback?: (err: unknown) => void;
  },
): Promise<{ socket: Socket; head: Buffer; framing: Framing }> {
  if (opts.preferFast) {
    try {
      return { ...(await openWebSocket(url, { ...opts, framing: FAST_UPGRADE })), framing: FAST_UPGRADE };
    } catch (err) {
      const definitive = err instanceof UpgradeRefusedError && [401, 426, 429].includes(err.status);
      // Nothing answers there at all: asking again as a WebSocket would only fail the same way.
      const unreachable = NO_ROUTE_CODES.has((err as NodeJS.ErrnoException).code ?? '');
      if (definitive || unreachable || opts.signal?.aborted) throw err;
      // Anything else (a refusal, a wrong answer, a reset or a hang-up by a middlebox): try a WebSocket.
      opts.onFallback?.(err);
    }
  }
  return { ...(await openWebSocket(url, { ...opts, framing: 'websocket' })), framing: 'websocket' };
}
