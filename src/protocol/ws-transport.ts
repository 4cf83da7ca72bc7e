/**
 * Runs a MuxSession over a `ws` WebSocket: one frame per binary message, no callback per send (a callback per
 * frame costs throughput; backpressure comes from bufferedAmount plus the socket's 'drain' instead).
 *
 * Integration notes:
 *  - Create the session once the WebSocket is OPEN: frames sent while it is not open are dropped.
 *  - Configure `maxPayload: MAX_FRAME_SIZE` on both ends, and leave permessage-deflate off (sends here pass
 *    compress: false anyway; tunnelled TCP is usually compressed or encrypted already).
 *  - Protocol version: the client offers WS_SUBPROTOCOL (`new WebSocket(url, [WS_SUBPROTOCOL])`) and the hub
 *    refuses the upgrade unless it is offered (`handleProtocols`, or checking `sec-websocket-protocol` in its
 *    upgrade handler), so mismatched versions fail at the handshake, before any frame is parsed.
 */
import type { WebSocket } from 'ws';
import { PROTOCOL_VERSION } from './frames.js';
import { MuxSession, type FrameSink, type MuxSessionOptions } from './session.js';

/** WebSocket subprotocol naming the wire version, e.g. "private-connect.v1". */
export const WS_SUBPROTOCOL = `private-connect.v${PROTOCOL_VERSION}`;

/** ws' readyState value for OPEN (the constant lives on the class, which we only import as a type). */
const OPEN = 1;
/** RFC 6455: a close reason is at most 123 bytes of UTF-8. ws throws beyond that. */
const MAX_CLOSE_REASON_BYTES = 123;

/** The part of ws' private `_socket` (a net.Socket) we need: its 'drain' tells us the kernel took our bytes. */
interface DrainSource {
  on(event: 'drain', listener: () => void): unknown;
  off(event: 'drain', listener: () => void): unknown;
}

function underlyingSocket(ws: WebSocket): DrainSource | undefined {
  const socket = (ws as unknown as { _socket?: DrainSource | null })._socket;
  return socket ?? undefined;
}

function closeReason(reason: string): string {
  let text = reason;
  while (Buffer.byteLength(text) > MAX_CLOSE_REASON_BYTES) text = text.slice(0, -1);
  return text;
}

export function createWebSocketSink(ws: WebSocket): FrameSink {
  return {
    send(frame) {
      if (ws.readyState === OPEN) ws.send(frame, { binary: true, compress: false });
    },
    bufferedAmount() {
      return ws.bufferedAmount;
    },
    close(code, reason) {
      if (ws.readyState === OPEN) ws.close(code, closeReason(reason));
      else ws.terminate();
    },
    terminate() {
      ws.terminate();
    },
  };
}

/** Feeds the WebSocket's messages, drains and close into `session`. */
export function bindWebSocket(session: MuxSession, ws: WebSocket): void {
  ws.binaryType = 'nodebuffer';

  const onMessage = (data: WebSocket.RawData, isBinary: boolean): void => {
    if (!isBinary) session.protocolError('text WebSocket message (frames are binary)');
    else if (!Buffer.isBuffer(data)) session.protocolError('unexpected WebSocket message representation');
    else session.receive(data);
  };
  const onDrain = (): void => session.onTransportDrain();
  let drainSource: DrainSource | undefined;
  const attachDrain = (): void => {
    drainSource = underlyingSocket(ws);
    drainSource?.on('drain', onDrain);
  };
  const onClose = (code: number, reason: Buffer): void => {
    detach();
    session.close(`websocket closed (${code}${reason.length > 0 ? ` ${reason.toString()}` : ''})`);
  };
  // ws emits 'close' after 'error'; the listener exists because an unhandled 'error' would crash the process.
  const onError = (err: Error): void => {
    session.close(`websocket error: ${err.message}`);
  };
  const detach = (): void => {
    ws.off('message', onMessage);
    ws.off('open', attachDrain);
    ws.off('close', onClose);
    drainSource?.off('drain', onDrain);
  };

  ws.on('message', onMessage);
  ws.on('close', onClose);
  ws.on('error', onError);
  if (ws.readyState === OPEN) attachDrain();
  else ws.once('open', attachDrain);
}

/** Convenience: a session on an OPEN `ws`, sink and bindings included. */
export function attachWebSocket(ws: WebSocket, opts: Omit<MuxSessionOptions, 'sink'>): MuxSession {
  const session = new MuxSession({ ...opts, sink: createWebSocketSink(ws) });
  bindWebSocket(session, ws);
  return session;
}
