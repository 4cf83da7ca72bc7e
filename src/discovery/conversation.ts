import net from 'node:net';
import tls from 'node:tls';
import { now, type Target } from './types.js';

/** Nothing a probe parses needs more than this; a service that streams forever cannot grow our memory. */
export const MAX_REPLY_BYTES = 64 * 1024;

export interface Reply {
  /** Every byte received so far on this connection. */
  data: Buffer;
  /** The peer closed (or reset) the connection. */
  closed: boolean;
  /** The deadline passed before the reply was complete. */
  timedOut: boolean;
}

export interface OpenOptions {
  /** Wrap the connection in TLS (certificate not verified: we identify, we do not trust). */
  tls?: boolean;
}

/**
 * One TCP (or TLS) connection used by a probe: write bytes, then wait until the reply is complete, the peer
 * closes, or a deadline passes. Every path ends in `close()`, which destroys the socket, so probes leak nothing.
 */
export class Conversation {
  private chunks: Buffer[] = [];
  private size = 0;
  private closed = false;
  private wake: (() => void) | null = null;

  private constructor(readonly socket: net.Socket) {
    socket.on('data', (chunk: Buffer) => {
      if (this.size < MAX_REPLY_BYTES) {
        this.chunks.push(chunk);
        this.size += chunk.length;
      }
      this.notify();
    });
    socket.on('close', () => {
      this.closed = true;
      this.notify();
    });
    // Errors after connect (ECONNRESET...) are followed by 'close'; this handler only keeps them from throwing.
    socket.on('error', () => {});
  }

  /** Connects before `deadline`; resolves null when the port refuses, resets or does not complete a handshake. */
  static open(target: Target, deadline: number, options: OpenOptions = {}): Promise<Conversation | null> {
    return new Promise((resolve) => {
      const left = Math.max(1, deadline - now());
      const socket = options.tls
        ? tls.connect({
            host: target.address,
            port: target.port,
            // SNI must be a name, never an IP literal.
            servername: net.isIP(target.hostname) ? undefined : target.hostname,
            rejectUnauthorized: false,
            ALPNProtocols: ['http/1.1'],
          })
        : net.connect({ host: target.address, port: target.port });
      const ready = options.tls ? 'secureConnect' : 'connect';
      let settled = false;
      const finish = (conversation: Conversation | null): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        socket.off('error', onError);
        socket.off('close', onError);
        if (!conversation) socket.destroy();
        resolve(conversation);
      };
      const onError = (): void => finish(null);
      const timer = setTimeout(onError, left);
      socket.once('error', onError);
      socket.once('close', onError);
      socket.once(ready, () => finish(new Conversation(socket)));
    });
  }

  write(bytes: Buffer | string): void {
    if (!this.closed) this.socket.write(bytes);
  }

  /** All bytes received so far. */
  data(): Buffer {
    if (this.chunks.length > 1) this.chunks = [Buffer.concat(this.chunks)];
    return this.chunks[0] ?? Buffer.alloc(0);
  }

  /** Forgets the bytes received so far, so that the next `until` sees only the answer to the next request. */
  discard(): void {
    this.chunks = [];
    this.size = 0;
  }

  /** Waits until `complete(data)` holds, the peer closes, or `deadline` passes. */
  async until(complete: (data: Buffer) => boolean, deadline: number): Promise<Reply> {
    for (;;) {
      const data = this.data();
      if (complete(data) || this.size >= MAX_REPLY_BYTES)
        return { data, closed: this.closed, timedOut: false };
      if (this.closed) return { data, closed: true, timedOut: false };
      const left = deadline - now();
      if (left <= 0) return { data, closed: false, timedOut: true };
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.wake = null;
    }
  }

  close(): void {
    this.socket.destroy();
  }

  private notify(): void {
    this.wake?.();
  }
}

/**
 * The common shape of a client-first probe: a fresh connection, one request, one reply.
 * Resolves null when the connection could not be made.
 */
export async function ask(
  target: Target,
  request: Buffer | string,
  complete: (data: Buffer) => boolean,
  deadline: number,
  options: OpenOptions = {},
): Promise<Reply | null> {
  const conversation = await Conversation.open(target, deadline, options);
  if (!conversation) return null;
  try {
    conversation.write(request);
    return await conversation.until(complete, deadline);
  } finally {
    conversation.close();
  }
}
