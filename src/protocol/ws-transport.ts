/**
 * Runs a MuxSession over an upgraded WebSocket connection (a net.Socket or tls.TLSSocket after the handshake of
 * ws-handshake.ts): one frame per binary WebSocket message, framed by ws-codec.ts.
 *
 * The data path copies as little as it can in user space: a received message reaches the session as views into
 * the socket reads it arrived in (unmasked in place), and the server writes a frame as a small header buffer plus
 * the payload buffers it was given (`writev`). A client must mask what it sends with a random key (RFC 6455
 * §5.3), and the payload buffers it is given are the callers' (they may reuse them): so it writes each frame as
 * one new buffer, the payload masked into it, which is the one copy of that path.
 * Backpressure: bufferedAmount is the socket's writableLength, and its 'drain' flushes the session.
 *
 * Roles: the agent is the WebSocket client, the hub the server.
 *
 * Framing: 'websocket' is RFC 6455 as above. 'private-connect' (negotiated with `Upgrade: private-connect`, see
 * ws-handshake.ts) is the same length framing with no masking either way: masking exists to protect HTTP
 * intermediaries that might mistake attacker-chosen WebSocket payloads for requests, and a connection that
 * upgraded to a protocol no intermediary knows has none in its path that still parses it.
 */
import type { Socket } from 'node:net';
import { HEADER_SIZE, MAX_FRAME_SIZE } from './frames.js';
import { MuxSession, type FrameSink, type MuxSessionOptions } from './session.js';
import type { Framing } from './ws-handshake.js';
import {
  closePayload,
  controlFrame,
  frameHeader,
  writeMasked,
  WsCloseCode,
  WsFrameReader,
  WsOpcode,
} from './ws-codec.js';

/**
 * Server frames up to this size are written as one buffer (header copied in front): one write call, one syscall.
 * A client's are always one buffer, since they are masked into it.
 */
const COPY_BELOW = 1024;
/**
 * Small frames (WINDOW, PONG, RST, control replies, small DATA) produced while one socket read is handled leave
 * together, in one write at the end of that tick. A socket write costs node a request object of a few hundred
 * bytes until the kernel takes it: a peer that does not read and provokes thousands of 16-byte PONGs would make
 * the hub hold ~25 bytes of bookkeeping per byte owed. Batched, the bookkeeping is per batch.
 */
const STAGE_FLUSH_BYTES = 16 * 1024;
/** A WebSocket PONG waits while more than this is unsent (it only tells the peer we are alive; data does too). */
const PONG_ROOM_BYTES = 64 * 1024;
/** After our close frame, how long the peer has to close the TCP connection before we drop it. */
const CLOSE_GRACE_MS = 5000;

export class WebSocketTransport implements FrameSink {
  private readonly masked: boolean;
  private readonly reader: WsFrameReader;
  private session: MuxSession | undefined;
  private closeSent = false;
  private peerClose: { code: number; reason: string } | undefined;
  /**
   * The PONG owed for the latest WebSocket PING (RFC 6455 §5.5.3 lets an endpoint answer only the most recent):
   * one at most, so PINGs from a peer that reads nothing cannot grow what we hold for it.
   */
  private pongOwed: Buffer | undefined;
  /** Small frames waiting for the end of this tick (see STAGE_FLUSH_BYTES). */
  private staged: Buffer[] = [];
  private stagedBytes = 0;

  constructor(
    private readonly socket: Socket,
    role: 'client' | 'server',
    framing: Framing = 'websocket',
  ) {
    const websocket = framing === 'websocket';
    this.masked = websocket && role === 'client';
    this.reader = new WsFrameReader(
      {
        onMessage: (parts, length) => this.onMessage(parts, length),
        onPing: (payload) => this.owePong(payload),
        onPong: () => undefined,
        onClose: (code, reason) => {
          this.peerClose = { code, reason };
          // Echo the close (RFC 6455 §5.5.1), then let the session go.
          this.close(code === WsCloseCode.NO_STATUS ? WsCloseCode.NORMAL : code, '');
          this.session?.close(`websocket closed (${code}${reason ? ` ${reason}` : ''})`);
        },
        onViolation: (message, closeCode) => {
          this.close(closeCode, message);
          this.session?.protocolError(`websocket: ${message}`);
        },
      },
      { expectMasked: websocket && role === 'server', maxMessage: MAX_FRAME_SIZE },
    );
  }

  /** Starts feeding `session` with what arrives; `head` holds bytes read past the handshake, if any. */
  bind(session: MuxSession, head?: Buffer): void {
    this.session = session;
    const socket = this.socket;
    // Parsed on the next tick, so that whoever created the session has attached its listeners first (the hub may
    // send its first frames in the same packet as its 101). Queued before the 'data' listener below resumes the
    // socket, so these bytes still come first.
    if (head && head.length > 0) process.nextTick(() => this.reader.push(head));
    socket.setNoDelay(true);
    socket.setTimeout(0);
    socket.on('data', (chunk: Buffer) => this.reader.push(chunk));
    socket.on('drain', () => session.onTransportDrain());
    // The peer finished its side without a close frame (or after one): finish ours.
    socket.on('end', () => socket.end());
    socket.on('close', () => {
      const code = this.peerClose?.code ?? WsCloseCode.ABNORMAL;
      const reason = this.peerClose?.reason ?? '';
      session.close(`websocket closed (${code}${reason ? ` ${reason}` : ''})`);
    });
    // Stays attached for the socket's life: an unhandled 'error' would crash the process.
    socket.on('error', (err: Error) => session.close(`websocket error: ${err.message}`));
  }

  /** A whole encoded frame (every frame is at least its 6-byte header): sent as header + payload. */
  send(frame: Buffer): void {
    this.sendParts(frame.subarray(0, HEADER_SIZE), [frame.subarray(HEADER_SIZE)], frame.length - HEADER_SIZE);
  }

  sendParts(header: Buffer, parts: readonly Buffer[], payloadLength: number): void {
    if (this.closeSent || this.socket.destroyed) return;
    const length = HEADER_SIZE + payloadLength;
    if (this.masked) {
      // Masked into one new buffer, whatever the size: one write, one syscall, the callers' buffers untouched.
      const [buf, at] = frameHeader(WsOpcode.BINARY, length, true, length);
      const head = header.length === HEADER_SIZE ? header : header.subarray(0, HEADER_SIZE);
      let offset = writeMasked(buf, at, at, head);
      for (const part of parts) offset = writeMasked(buf, at, offset, part);
      if (length <= COPY_BELOW) this.stage(buf);
      else {
        this.flushStaged();
        this.socket.write(buf);
      }
      return;
    }
    if (length <= COPY_BELOW) {
      const [buf, at] = frameHeader(WsOpcode.BINARY, length, false, length);
      header.copy(buf, at, 0, HEADER_SIZE);
      let offset = at + HEADER_SIZE;
      for (const part of parts) offset += part.copy(buf, offset);
      this.stage(buf);
      return;
    }
    this.flushStaged(); // order: what was staged goes first
    const [buf, at] = frameHeader(WsOpcode.BINARY, length, false, HEADER_SIZE);
    header.copy(buf, at, 0, HEADER_SIZE);
    // Corked writes leave as one writev: the header and every part in a single syscall.
    this.socket.cork();
    this.socket.write(buf);
    for (const part of parts) this.socket.write(part);
    this.socket.uncork();
  }

  bufferedAmount(): number {
    return this.socket.writableLength + this.stagedBytes;
  }

  close(code: number, reason: string): void {
    if (this.closeSent) return;
    this.flushStaged();
    this.closeSent = true;
    const socket = this.socket;
    if (socket.destroyed) return;
    if (socket.writable) {
      socket.write(controlFrame(WsOpcode.CLOSE, closePayload(code, reason), this.masked));
      socket.end();
    }
    setTimeout(() => socket.destroy(), CLOSE_GRACE_MS).unref();
  }

  terminate(): void {
    this.closeSent = true;
    this.staged = [];
    this.stagedBytes = 0;
    this.socket.destroy();
  }

  private owePong(payload: Buffer): void {
    if (this.closeSent) return;
    const first = this.pongOwed === undefined;
    this.pongOwed = Buffer.from(payload); // the PING's bytes are a view of a socket read
    if (first) process.nextTick(() => this.payPong());
  }

  /** Sends the owed PONG once the socket has room for it; else on its next 'drain'. */
  private payPong(): void {
    const payload = this.pongOwed;
    if (!payload || this.closeSent || this.socket.destroyed) return;
    if (this.socket.writableLength > PONG_ROOM_BYTES) {
      this.socket.once('drain', () => this.payPong());
      return;
    }
    this.pongOwed = undefined;
    this.stage(controlFrame(WsOpcode.PONG, payload, this.masked));
  }

  /** Holds a small frame for the end of this tick (or until a batch's worth is staged). */
  private stage(buf: Buffer): void {
    this.staged.push(buf);
    this.stagedBytes += buf.length;
    if (this.staged.length === 1) process.nextTick(() => this.flushStaged());
    else if (this.stagedBytes >= STAGE_FLUSH_BYTES) this.flushStaged();
  }

  private flushStaged(): void {
    const n = this.staged.length;
    if (n === 0) return;
    const batch = n === 1 ? this.staged[0]! : Buffer.concat(this.staged, this.stagedBytes);
    this.staged = [];
    this.stagedBytes = 0;
    if (!this.socket.destroyed) this.socket.write(batch);
  }

  /** Splits the 6-byte frame header off the message's parts and hands the frame to the session. */
  private onMessage(parts: Buffer[], length: number): void {
    const session = this.session;
    if (!session) return;
    if (length < HEADER_SIZE) {
      session.protocolError(`message of ${length} bytes is shorter than a frame header`);
      return;
    }
    let header: Buffer;
    const first = parts[0]!;
    if (first.length >= HEADER_SIZE) {
      header = first.subarray(0, HEADER_SIZE);
      if (first.length === HEADER_SIZE) parts.shift();
      else parts[0] = first.subarray(HEADER_SIZE);
    } else {
      // The header itself straddles two reads (rare): gather its 6 bytes.
      header = Buffer.allocUnsafe(HEADER_SIZE);
      let have = 0;
      while (have < HEADER_SIZE) {
        const part = parts[0]!;
        const take = Math.min(HEADER_SIZE - have, part.length);
        part.copy(header, have, 0, take);
        have += take;
        if (take === part.length) parts.shift();
        else parts[0] = part.subarray(take);
      }
    }
    session.receiveParts(header, parts, length - HEADER_SIZE);
  }
}

/** A session on an upgraded socket, sink and bindings included. */
export function attachWebSocket(
  socket: Socket,
  head: Buffer | undefined,
  opts: Omit<MuxSessionOptions, 'sink'>,
  framing: Framing = 'websocket',
): MuxSession {
  const transport = new WebSocketTransport(socket, opts.role, framing);
  const session = new MuxSession({ ...opts, sink: transport });
  transport.bind(session, head);
  return session;
}
