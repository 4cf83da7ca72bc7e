/**
 * Joins a TCP socket to a MuxStream with backpressure both ways and TCP half-close preserved.
 *
 *   socket → stream: pause the socket while stream.write() says the stream queue is full; resume on 'drain'.
 *   stream → socket: report consumed() only once the socket accepted the bytes (at once if write() returned true,
 *                    else on the socket's 'drain'), so the peer's credit tracks what really left our memory.
 *   FIN both ways:   socket 'end' → stream.end(); stream 'end' → socket.end(). The socket must be created with
 *                    allowHalfOpen: true, or Node would close our write side when the peer's FIN arrives.
 *   Failures:        socket error/abrupt close → stream.reset(REFUSED if it never connected, else CANCEL);
 *                    stream reset (by the peer or the session) → socket.resetAndDestroy() (TCP RST).
 */
import type net from 'node:net';
import { ResetCode } from './frames.js';
import type { MuxStream } from './stream.js';

export interface BridgeOptions {
  /** Called once, when both the socket and the stream are closed; `err` is the first socket error, if any. */
  onClose?: (err?: Error) => void;
}

export function bridgeSocket(stream: MuxStream, socket: net.Socket, opts: BridgeOptions = {}): void {
  let connected = !socket.connecting;
  let firstError: Error | undefined;
  let unreported = 0; // bytes written to the socket but not yet reported as consumed
  let socketClosed = false;
  let streamClosed = stream.closed;
  let notified = false;

  const maybeDone = (): void => {
    if (socketClosed && streamClosed && !notified) {
      notified = true;
      opts.onClose?.(firstError);
    }
  };

  // --- socket side
  const onConnect = (): void => {
    connected = true;
  };
  const onSocketData = (chunk: Buffer): void => {
    if (stream.closed || stream.localEnded) return;
    if (!stream.write(chunk)) socket.pause();
  };
  const onSocketEnd = (): void => {
    stream.end();
  };
  const onSocketDrain = (): void => {
    if (unreported > 0) {
      const n = unreported;
      unreported = 0;
      stream.consumed(n);
    }
  };
  const onSocketError = (err: Error): void => {
    firstError ??= err;
    stream.reset(connected ? ResetCode.CANCEL : ResetCode.REFUSED, err.message);
  };
  const onSocketClose = (): void => {
    socketClosed = true;
    // A clean close means both FINs already went through; the stream then closes by itself once its queued data
    // and FIN are flushed. Anything else (destroyed, reset by the kernel) aborts the stream.
    if (!stream.localEnded || !stream.remoteEnded) {
      stream.reset(connected ? ResetCode.CANCEL : ResetCode.REFUSED, firstError?.message ?? 'socket closed');
    }
    socket.off('connect', onConnect);
    socket.off('data', onSocketData);
    socket.off('end', onSocketEnd);
    socket.off('drain', onSocketDrain);
    socket.off('close', onSocketClose);
    // The error listener stays: a socket may still emit 'error' late, and an unhandled one crashes the process.
    maybeDone();
  };

  // --- stream side
  const onStreamData = (chunk: Buffer): void => {
    if (socket.destroyed) return;
    if (socket.write(chunk)) stream.consumed(chunk.length);
    else unreported += chunk.length;
  };
  const onStreamEnd = (): void => {
    if (!socket.destroyed) socket.end();
  };
  const onStreamDrain = (): void => {
    socket.resume();
  };
  const onStreamReset = (): void => {
    // A TCP RST rather than a FIN: a reset stream must not look like a complete, cleanly ended answer.
    if (socket.destroyed) return;
    try {
      socket.resetAndDestroy();
    } catch {
      socket.destroy(); // not a TCP handle (e.g. a Unix socket): a plain close is the best we can do
    }
  };
  const onStreamClose = (): void => {
    streamClosed = true;
    stream.off('data', onStreamData);
    stream.off('end', onStreamEnd);
    stream.off('drain', onStreamDrain);
    stream.off('reset', onStreamReset);
    stream.off('close', onStreamClose);
    maybeDone();
  };

  socket.on('connect', onConnect);
  socket.on('data', onSocketData);
  socket.on('end', onSocketEnd);
  socket.on('drain', onSocketDrain);
  socket.on('error', onSocketError);
  socket.on('close', onSocketClose);
  stream.on('data', onStreamData);
  stream.on('end', onStreamEnd);
  stream.on('drain', onStreamDrain);
  stream.on('reset', onStreamReset);
  stream.on('close', onStreamClose);

  if (stream.closed) {
    // Bridged too late (e.g. the session was already gone): nothing can flow.
    onStreamClose();
    socket.destroy();
  } else if (socket.destroyed) {
    onSocketClose();
  }
}
