/**
 * A MuxStream seen as a socket, so node:http can run a request over it (`createConnection`) without a loopback hop.
 *
 *   write side:  _write() hands the chunk to stream.write() and calls back at once when the stream queue has room,
 *                else on the stream's 'drain'. So the HTTP client's writes (a piped request body) see backpressure.
 *   read side:   every DATA chunk is push()ed; its bytes are reported with stream.consumed() at once while push()
 *                returns true, else only when Node asks for more (_read). The peer's credit therefore tracks what the
 *                HTTP parser really took, and memory stays bounded by the stream window plus one highWaterMark.
 *   closing:     end() sends FIN after the queued data; the peer's FIN ends the readable side and then ours.
 *   failure:     a reset of the stream destroys the duplex with an UpstreamError carrying the reset's reason (what a
 *                502 page shows); destroying the duplex resets the stream (CANCEL).
 *
 * node:http also calls a few net.Socket methods (setNoDelay, setKeepAlive, setTimeout, ref, unref): they are
 * implemented here as the stream-level equivalents or as no-ops.
 */
import { Duplex } from 'node:stream';
import { ResetCode } from '../protocol/frames.js';
import type { MuxStream, StreamReset } from '../protocol/stream.js';

/** The upstream went away: `reason` says why, in the words of whoever reset the stream. */
export class UpstreamError extends Error {
  override readonly name = 'UpstreamError';
  constructor(
    message: string,
    readonly resetCode?: number,
  ) {
    super(message);
  }
}

export class MuxDuplex extends Duplex {
  private unreported = 0;
  private timer: NodeJS.Timeout | undefined;
  /** Mirrors net.Socket: node:http's agent reads it to decide whether to re-arm the idle timeout. */
  timeout = 0;
  readonly remoteAddress = '127.0.0.1';
  readonly remotePort = 0;
  readonly localAddress = '127.0.0.1';
  readonly localPort = 0;
  readonly connecting = false;

  constructor(private readonly stream: MuxStream) {
    // Not half-open: like the net.Socket node:http normally gets, the upstream's FIN ends our side too, so an idle
    // pooled connection that the upstream closed is dropped from the pool instead of being reused.
    super({ allowHalfOpen: false });
    stream.on('data', this.onData);
    stream.once('end', this.onEnd);
    stream.once('reset', this.onReset);
    stream.once('close', this.onClose);
    if (stream.closed)
      process.nextTick(() => this.destroy(new UpstreamError('the stream closed before use')));
  }

  private readonly onData = (chunk: Buffer): void => {
    if (this.destroyed) return;
    this.touch();
    if (this.push(chunk)) this.stream.consumed(chunk.length);
    else this.unreported += chunk.length;
  };

  private readonly onEnd = (): void => {
    this.push(null);
  };

  private readonly onReset = (info: StreamReset): void => {
    this.destroy(new UpstreamError(info.reason || 'the connection was reset', info.code));
  };

  private readonly onClose = (): void => {
    this.clearTimer();
  };

  override _read(): void {
    if (this.unreported > 0) {
      const n = this.unreported;
      this.unreported = 0;
      this.stream.consumed(n);
    }
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    if (this.stream.closed) {
      callback(new UpstreamError('the connection to the service is closed'));
      return;
    }
    this.touch();
    if (this.stream.write(chunk)) {
      callback();
      return;
    }
    const done = (): void => {
      this.stream.off('drain', done);
      this.stream.off('close', done);
      callback(
        this.stream.closed && !this.stream.localEnded
          ? new UpstreamError('the connection to the service closed')
          : null,
      );
    };
    this.stream.on('drain', done);
    this.stream.on('close', done);
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.stream.end();
    callback();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.clearTimer();
    this.stream.off('data', this.onData);
    if (!this.stream.closed) this.stream.reset(ResetCode.CANCEL, error?.message ?? 'closed by the proxy');
    callback(error);
  }

  // --- the parts of net.Socket that node:http uses

  setNoDelay(): this {
    return this;
  }

  setKeepAlive(): this {
    return this;
  }

  /** Idle timeout like net.Socket's: 'timeout' after `ms` without reads or writes (0 disables). */
  setTimeout(ms: number, callback?: () => void): this {
    this.timeout = ms;
    if (callback) {
      if (ms === 0) this.off('timeout', callback);
      else this.once('timeout', callback);
    }
    this.touch();
    return this;
  }

  ref(): this {
    return this;
  }

  unref(): this {
    return this;
  }

  private touch(): void {
    this.clearTimer();
    if (this.timeout > 0 && !this.destroyed) {
      this.timer = setTimeout(() => this.emit('timeout'), this.timeout);
      this.timer.unref();
    }
  }

  private clearTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }
}
