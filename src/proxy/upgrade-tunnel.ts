/**
 * Upgrade requests (WebSocket and any other protocol switch): the request head is re-written to the service, then
 * raw bytes flow both ways with backpressure. Until the service sends a byte, a failure is still answered with a
 * 502 page; after that, the client's socket is simply closed.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { LogFn } from '../agent/hub-connection.js';
import { FORWARDED_HEADER_NAMES, type ProxyStamp } from './forwarded-headers.js';
import { badGatewayPage, sendRawPage, upstreamReason } from './pages.js';
import type { RouteTarget } from './route-table.js';
import type { Upstreams } from './upstreams.js';

export class UpgradeTunnel {
  constructor(
    private readonly upstreams: Upstreams,
    private readonly stamp: ProxyStamp,
    private readonly log: LogFn,
  ) {}

  async open(req: IncomingMessage, socket: Duplex, head: Buffer, route: RouteTarget): Promise<void> {
    let upstream: Duplex;
    try {
      upstream = await this.upstreams.connect(route);
    } catch (err) {
      return sendRawPage(socket, badGatewayPage(route, err));
    }
    // The client may have gone while the route or the hub stream was being set up: nothing to connect.
    if (socket.destroyed) {
      upstream.destroy();
      return;
    }
    let answered = false;
    upstream.on('data', (chunk: Buffer) => {
      answered = true;
      if (!socket.write(chunk)) upstream.pause();
    });
    socket.on('drain', () => upstream.resume());
    socket.on('data', (chunk: Buffer) => {
      if (!upstream.write(chunk)) socket.pause();
    });
    upstream.on('drain', () => socket.resume());
    upstream.on('end', () => socket.end());
    socket.on('end', () => upstream.end());
    upstream.on('error', (err) => {
      if (!answered && !socket.destroyed) {
        this.log('warn', `502 for ${route.name} (upgrade): ${upstreamReason(route, err)}`);
        sendRawPage(socket, badGatewayPage(route, err));
      } else socket.destroy();
    });
    socket.on('close', () => upstream.destroy());
    upstream.write(this.rawHead(req));
    if (head.length > 0) upstream.write(head);
  }

  /** The client's request head as sent (its header case and order), with this proxy's forwarded headers instead. */
  private rawHead(req: IncomingMessage): Buffer {
    let text = `${req.method ?? 'GET'} ${req.url ?? '/'} HTTP/1.1\r\n`;
    for (let i = 0; i + 1 < req.rawHeaders.length; i += 2) {
      const key = req.rawHeaders[i] ?? '';
      if (!FORWARDED_HEADER_NAMES.has(key.toLowerCase()))
        text += `${key}: ${req.rawHeaders[i + 1] ?? ''}\r\n`;
    }
    for (const [key, value] of Object.entries(this.stamp.forwarded(req))) text += `${key}: ${value}\r\n`;
    return Buffer.from(text + '\r\n', 'latin1');
  }
}
