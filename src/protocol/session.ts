/**
 * MuxSession: many streams over one message transport (a WebSocket), plus keepalive and hub splicing.
 *
 * Credit / window agreement. Each stream has ONE window size W, chosen by the opener: OPEN carries the opener's
 * configured `initialWindow`, and the opener assumes the acceptor uses the same W (it may write immediately, before
 * any reply). The acceptor adopts W from the OPEN, up to its own `initialWindow` (its memory cap). So configure the
 * same `initialWindow` on every agent (the default): if an acceptor's cap is smaller than the opener's W, an opener
 * that fills its window gets RST FLOW_CONTROL. The hub does not account credit for spliced streams; it forwards the
 * OPEN's window unchanged, so credit is end to end between the agents.
 *
 * Scheduling. WINDOW/FIN/RST/PING/PONG/OPEN/ACCEPT/CONTROL/GOAWAY are sent at once. DATA is sent at once too while
 * the transport's bufferedAmount is at or under `highWaterMark`; above it, DATA waits in per-stream queues and is
 * flushed round-robin (one chunk per stream per turn) on `onTransportDrain()`, on new credit, and on each ping tick.
 *
 * Failure. `receive()` never throws: a malformed frame (or a listener that throws) emits 'error' (only if someone
 * listens: an unhandled 'error' event would crash the process) and closes the session; every stream then gets a
 * 'reset' with SESSION_CLOSED and every splice partner gets RST SESSION_CLOSED.
 *
 * Guard (the hub). A session built with `guard` bounds what its peer can make it hold: streams, OPENs waiting for a
 * decision and the bytes they carry, the window relayed for a splice, and the bytes unsent on its transport (a peer
 * that grants credit but does not read). A crossed bound resets that stream (RST LIMIT) or, for unsent bytes, ends
 * the session (GOAWAY LIMIT, close 1008); either way 'refused' is emitted with the one-line reason, for the log.
 *
 * Events: 'open' (OpenRequest), 'control' (msg), 'goaway' ({code, reason}), 'error' (err), 'dead' (), 'close' (reason),
 * 'refused' (Refusal).
 */
import { EventEmitter } from 'node:events';
import { ConnectError, ErrorCodes, messageOf } from '../api/errors.js';
import {
  decodeFrame,
  DEFAULT_INITIAL_WINDOW,
  DEFAULT_MAX_DATA_CHUNK,
  encodeFrame,
  FrameType,
  HEADER_SIZE,
  MAX_FRAME_PAYLOAD,
  MAX_U32,
  PING_PAYLOAD_SIZE,
  readFrameType,
  readStreamId,
  ResetCode,
  shortReason,
  type Frame,
  type JsonObject,
} from './frames.js';
import { EndpointTable, type PendingOpen } from './endpoint-table.js';
import { Splice, type SpliceEndListener, type SpliceHost } from './splice.js';
import { MuxStream, type StreamHost } from './stream.js';
import { WsCloseCode } from './ws-codec.js';

/** How a session writes to its transport. */
export interface FrameSink {
  send(frame: Buffer): void;
  /**
   * Optional: sends one frame given as its 6-byte header and its payload in pieces, keeping references to the
   * pieces (not copies) until they are written. Without it the session joins them and calls send().
   */
  sendParts?(header: Buffer, parts: readonly Buffer[], payloadLength: number): void;
  /** Bytes queued in the transport and not yet written to the network. */
  bufferedAmount(): number;
  close(code: number, reason: string): void;
  /** Optional: drop the transport without a closing handshake (used when the peer is dead). */
  terminate?(): void;
}

/** Bounds a hub puts on one peer (values from src/hub/limits.ts). Agents run without. */
export interface SessionGuard {
  /** Streams, splices and pending OPENs together. */
  maxStreams: number;
  maxPendingOpens: number;
  /** DATA held for all pending OPENs together. */
  maxPendingBytes: number;
  /** Largest window relayed in a spliced OPEN (a larger one is relayed as this). */
  maxStreamWindow: number;
  /** Unsent transport bytes allowed beyond the windows of the splices flowing toward this session… */
  unsentSlackBytes: number;
  /** …counting those windows up to this much. */
  unsentWindowCapBytes: number;
}

/** A bound was crossed: which stream (0: the whole session), the RST/GOAWAY code, the reason sent to the peer. */
export interface Refusal {
  streamId: number;
  code: ResetCode;
  reason: string;
}

export interface MuxSessionOptions {
  sink: FrameSink;
  /** Bounds on what the peer may make this session hold (the hub sets them). */
  guard?: SessionGuard;
  /** 'client' opens odd stream ids, 'server' (the hub) even ids. */
  role: 'client' | 'server';
  /** Our receive window per stream (default 4 MiB). Use the same value on every agent (see top of file). */
  initialWindow?: number;
  /** DATA frames carry at most this many bytes (default 128 KiB). */
  maxDataChunk?: number;
  /** Default 5000. 0 disables pings. */
  pingIntervalMs?: number;
  /** Default 15000: no frame at all received for this long => 'dead', then closed. 0 disables. */
  deadAfterMs?: number;
  /** Default 1 MiB: above this transport bufferedAmount, DATA queues inside the session. */
  highWaterMark?: number;
  /** For log and error messages. */
  label?: string;
}

export interface OpenRequest {
  readonly streamId: number;
  readonly meta: Record<string, unknown>;
  /** Become the endpoint of this stream. Frames that arrived meanwhile are delivered after accept() returns. */
  accept(): MuxStream;
  /**
   * Hub relay: forward this stream frame by frame to a new stream on `peer`, opened with `meta`. `onEnd` is told
   * once how it ended and the bytes it carried (also when the splice could not open: `refused`).
   */
  splice(peer: MuxSession, meta: Record<string, unknown>, onEnd?: SpliceEndListener): void;
  /** Refuse the stream (RST). */
  reject(code: ResetCode, reason: string): void;
}

export interface SessionStats {
  streams: number;
  splices: number;
  /** Bytes written by local writers, waiting for credit or for the transport. */
  queuedBytes: number;
  /** Bytes received and not yet consumed (plus DATA held for OPENs not yet accepted). */
  unconsumedBytes: number;
  transportBuffered: number;
  bufferedBytes: number;
}

/** Payloads under this size that a guarded session keeps or forwards are copied out of the socket read. */
const COPY_SMALL_BELOW = 16 * 1024;
/** A session closed for not reading gets this long to take its close frame before its socket is dropped. */
const OVERFLOW_GRACE_MS = 1000;

export class MuxSession extends EventEmitter implements StreamHost, SpliceHost {
  readonly label: string;
  readonly maxDataChunk: number;
  readonly initialWindow: number;
  private readonly sink: FrameSink;
  private readonly role: 'client' | 'server';
  private readonly highWaterMark: number;
  private readonly deadAfterMs: number;
  private readonly guard: SessionGuard | undefined;
  /**
   * Windows of splices that ended while their bytes may still be queued toward the peer (a cancelled download on
   * a slow link): still counted until the transport drains down to the slack.
   */
  private retiredWindows = 0;
  /** Above this many unsent transport bytes the peer is not reading: the session ends (guarded sessions only). */
  private unsentLimit = Infinity;

  private nextLocalId: number;
  private lastPeerId = 0;
  /** Streams, splice ends and pending OPENs by stream id. */
  private readonly endpoints = new EndpointTable();
  /** Streams with something to send, in round-robin order (a Set keeps insertion order; re-adding moves to the end). */
  private readonly ready = new Set<MuxStream>();
  private flushing = false;
  private isClosed = false;
  private lastReceivedAt = Date.now();
  private pingTimer: NodeJS.Timeout | undefined;
  private deadTimer: NodeJS.Timeout | undefined;
  private pingCounter = 0n;

  constructor(opts: MuxSessionOptions) {
    super();
    this.sink = opts.sink;
    this.role = opts.role;
    this.label = opts.label ?? opts.role;
    this.initialWindow = clampInt(opts.initialWindow ?? DEFAULT_INITIAL_WINDOW, 1, MAX_U32);
    this.maxDataChunk = clampInt(opts.maxDataChunk ?? DEFAULT_MAX_DATA_CHUNK, 1, MAX_FRAME_PAYLOAD);
    this.highWaterMark = opts.highWaterMark ?? 1024 * 1024;
    this.deadAfterMs = opts.deadAfterMs ?? 15_000;
    this.nextLocalId = this.role === 'client' ? 1 : 2;
    this.guard = opts.guard;
    this.updateUnsentLimit();

    const pingIntervalMs = opts.pingIntervalMs ?? 5000;
    if (pingIntervalMs > 0) {
      // The tick also retries queued DATA, in case a transport drain notification was missed.
      this.pingTimer = setInterval(() => {
        this.sendPing();
        this.flush();
      }, pingIntervalMs);
      this.pingTimer.unref();
    }
    if (this.deadAfterMs > 0) this.armDeadTimer(this.deadAfterMs);
  }

  get closed(): boolean {
    return this.isClosed;
  }

  // -------------------------------------------------------------------------------------------------------------
  // Public API

  /** Feeds one incoming transport message (one whole frame). Never throws. */
  receive(message: Buffer): void {
    if (message.length < HEADER_SIZE) {
      if (this.isClosed) return;
      this.lastReceivedAt = Date.now();
      this.decodeAndDispatch(message); // decodeFrame reports the short frame
      return;
    }
    this.receiveParts(
      message.subarray(0, HEADER_SIZE),
      [message.subarray(HEADER_SIZE)],
      message.length - HEADER_SIZE,
    );
  }

  /**
   * Feeds one incoming frame given as its 6-byte header and its payload in pieces (views into the transport's
   * reads; the session may keep them). Never throws.
   *
   * The data path: a well-formed DATA frame for a spliced stream (the hub) or an accepted stream (an agent) is
   * handled on its header alone, with the checks decodeFrame makes for DATA, without joining the pieces. Every
   * other frame is joined and decoded (they are small and rare).
   */
  receiveParts(header: Buffer, parts: Buffer[], payloadLength: number): void {
    if (this.isClosed) return;
    this.lastReceivedAt = Date.now();
    if (
      header[0] === FrameType.DATA &&
      header[1] === 0 &&
      payloadLength > 0 &&
      payloadLength <= MAX_FRAME_PAYLOAD
    ) {
      const endpoint = this.endpoints.get(readStreamId(header));
      // A pending OPEN's DATA takes the general path: it is held, in order, until the OPEN is decided.
      if (endpoint !== undefined && endpoint.kind !== 'pending') {
        // A view pins the whole socket read it came from (64 KiB): a guarded session copies small payloads, so
        // what it holds for a peer is what it counts (otherwise 1 KiB frames could pin 60 times their size).
        const held =
          this.guard && payloadLength < COPY_SMALL_BELOW ? [Buffer.concat(parts, payloadLength)] : parts;
        try {
          if (endpoint.kind === 'splice') endpoint.splice.forwardParts(this, header, held, payloadLength);
          else endpoint.stream.onData(held, payloadLength);
        } catch (err) {
          this.fail(err);
        }
        return;
      }
    }
    this.decodeAndDispatch(Buffer.concat([header, ...parts], HEADER_SIZE + payloadLength));
  }

  /** Opens a stream; the caller may write at once (send credit = our initialWindow, see top of file). */
  openStream(meta: Record<string, unknown>): MuxStream {
    const id = this.allocateStreamId();
    const stream = new MuxStream({
      id,
      meta,
      host: this,
      sendWindow: this.initialWindow,
      receiveWindow: this.initialWindow,
    });
    if (this.isClosed) {
      // Uniform failure path for callers: the stream resets asynchronously, after they attached listeners.
      queueMicrotask(() => stream.onSessionClosed('session closed'));
      return stream;
    }
    this.endpoints.addStream(stream);
    this.sendNow(encodeFrame({ type: FrameType.OPEN, streamId: id, window: this.initialWindow, meta }));
    return stream;
  }

  sendControl(msg: Record<string, unknown>): void {
    this.sendNow(encodeFrame({ type: FrameType.CONTROL, streamId: 0, msg }));
  }

  /** Tells the peer why we leave (GOAWAY), then closes. */
  goAway(code: number, reason: string): void {
    if (this.isClosed) return;
    this.sendNow(encodeFrame({ type: FrameType.GOAWAY, streamId: 0, code, reason: shortReason(reason) }));
    this.close(reason);
  }

  /** The transport's buffer drained: flush queued DATA. */
  onTransportDrain(): void {
    if (this.retiredWindows > 0 && this.guard && this.sink.bufferedAmount() <= this.guard.unsentSlackBytes) {
      this.retiredWindows = 0;
      this.updateUnsentLimit();
    }
    this.flush();
  }

  /** A transport-level violation (e.g. a text WebSocket message): same handling as a malformed frame. */
  protocolError(message: string): void {
    this.fail(new ConnectError(ErrorCodes.PROTOCOL_ERROR, `protocol error: ${message}`));
  }

  close(reason = 'session closed'): void {
    this.shutdown(WsCloseCode.NORMAL, reason, false);
  }

  stats(): SessionStats {
    let queuedBytes = 0;
    let unconsumedBytes = 0;
    for (const endpoint of this.endpoints.values()) {
      if (endpoint.kind === 'splice') continue;
      const stream = endpoint.kind === 'stream' ? endpoint.stream : endpoint.accepted;
      if (stream) {
        queuedBytes += stream.queuedBytes;
        unconsumedBytes += stream.unconsumedBytes;
      }
      if (endpoint.kind === 'pending') unconsumedBytes += endpoint.open.dataBytes;
    }
    const transportBuffered = this.sink.bufferedAmount();
    return {
      streams: this.endpoints.streamCount,
      splices: this.endpoints.spliceCount,
      queuedBytes,
      unconsumedBytes,
      transportBuffered,
      bufferedBytes: queuedBytes + unconsumedBytes + transportBuffered,
    };
  }

  // -------------------------------------------------------------------------------------------------------------
  // StreamHost / SpliceHost (internal: used by MuxStream, Splice and OpenRequest of this module)

  /** @internal */
  sendNow(frame: Buffer): void {
    if (this.isClosed) return;
    this.sink.send(frame);
    if (this.guard && this.sink.bufferedAmount() > this.unsentLimit) this.overflowed();
  }

  /** @internal A frame as header + payload pieces (DATA): passed on without joining where the sink allows. */
  sendParts(header: Buffer, parts: readonly Buffer[], payloadLength: number): void {
    if (this.isClosed) return;
    if (this.sink.sendParts) this.sink.sendParts(header, parts, payloadLength);
    else this.sink.send(Buffer.concat([header, ...parts], HEADER_SIZE + payloadLength));
    if (this.guard && this.sink.bufferedAmount() > this.unsentLimit) this.overflowed();
  }

  /** @internal */
  wake(stream: MuxStream): void {
    if (this.isClosed) return;
    if (stream.hasSendable()) this.ready.add(stream);
    this.flush();
  }

  /** @internal */
  forget(stream: MuxStream): void {
    this.endpoints.removeStream(stream);
    this.ready.delete(stream);
  }

  private addSplice(streamId: number, splice: Splice): void {
    this.endpoints.addSplice(streamId, splice);
    this.updateUnsentLimit();
  }

  /** @internal */
  detachSplice(streamId: number): void {
    const splice = this.endpoints.removeSplice(streamId);
    if (!splice) return;
    if (this.guard) this.retiredWindows += splice.window;
    this.updateUnsentLimit();
  }

  /** @internal A bound was crossed on one stream (here or by a splice): tell whoever logs. */
  reportRefusal(streamId: number, code: ResetCode, reason: string): void {
    const refusal: Refusal = { streamId, code, reason };
    this.emit('refused', refusal);
  }

  /** @internal */
  allocateStreamId(): number {
    const id = this.nextLocalId;
    if (id > MAX_U32)
      throw new ConnectError(ErrorCodes.PROTOCOL_ERROR, `${this.label}: stream ids exhausted`);
    this.nextLocalId += 2;
    return id;
  }

  // -------------------------------------------------------------------------------------------------------------
  // Receiving

  /** The general path: decode the whole frame and route it; a malformed frame (or a throwing listener) fails. */
  private decodeAndDispatch(message: Buffer): void {
    try {
      this.dispatch(decodeFrame(message), message);
    } catch (err) {
      this.fail(err);
    }
  }

  private dispatch(frame: Frame, message: Buffer): void {
    switch (frame.type) {
      case FrameType.PING:
        this.sendNow(encodeFrame({ type: FrameType.PONG, streamId: 0, data: frame.data }));
        return;
      case FrameType.PONG:
        return; // receiving anything already proved the peer alive (lastReceivedAt)
      case FrameType.CONTROL:
        this.emit('control', frame.msg);
        return;
      case FrameType.GOAWAY:
        this.emit('goaway', { code: frame.code, reason: frame.reason });
        this.close(`peer went away: ${frame.reason}`);
        return;
      case FrameType.OPEN:
        this.handleOpen(frame.streamId, frame.window, frame.meta);
        return;
      default:
        break;
    }
    const id = frame.streamId;
    const endpoint = this.endpoints.get(id);
    // Unknown id: a frame that crossed our RST or close on the wire. Normal; ignore it.
    if (endpoint === undefined) return;
    if (endpoint.kind === 'splice') endpoint.splice.forward(this, message, frame.type);
    else if (endpoint.kind === 'pending') this.holdPending(id, endpoint.open, frame, message);
    else deliver(endpoint.stream, frame);
  }

  private handleOpen(id: number, window: number, meta: JsonObject): void {
    const peerOpensOdd = this.role === 'server';
    if ((id % 2 === 1) !== peerOpensOdd) {
      throw new ConnectError(
        ErrorCodes.PROTOCOL_ERROR,
        `protocol error: OPEN with stream id ${id} of our parity`,
      );
    }
    // Monotonic ids tell a new stream from a late frame of a closed one, without remembering closed ids.
    if (id <= this.lastPeerId) {
      throw new ConnectError(
        ErrorCodes.PROTOCOL_ERROR,
        `protocol error: OPEN stream id ${id} not above the previous ${this.lastPeerId}`,
      );
    }
    this.lastPeerId = id;
    const guard = this.guard;
    if (guard) {
      const held = this.heldStreams();
      if (held >= guard.maxStreams) {
        this.refuseStream(
          id,
          `this session already holds ${held} streams (the hub's limit is ${guard.maxStreams})`,
        );
        return;
      }
      const pending = this.endpoints.pendingCount;
      if (pending >= guard.maxPendingOpens) {
        this.refuseStream(
          id,
          `${pending} OPENs of this session are still waiting for an answer (the hub's limit is ${guard.maxPendingOpens})`,
        );
        return;
      }
    }
    this.endpoints.addPending(id, { window: Math.min(window, this.initialWindow), frames: [], dataBytes: 0 });
    const req = new PendingRequest(this, id, meta, window);
    if (this.listenerCount('open') === 0) req.reject(ResetCode.NO_SERVICE, 'nobody accepts streams here');
    else this.emit('open', req);
  }

  private holdPending(id: number, pending: PendingOpen, frame: Frame, message: Buffer): void {
    if (frame.type === FrameType.DATA) {
      this.endpoints.holdBytes(pending, frame.payload.length);
      // Bounded by the window, as for an accepted stream: a peer ignoring credit cannot grow our memory. A guarded
      // session also bounds all its pending OPENs together (each could otherwise hold a whole window).
      let code: ResetCode | undefined;
      let reason = '';
      if (pending.dataBytes > pending.window) {
        code = ResetCode.FLOW_CONTROL;
        reason = 'peer sent beyond the window';
      } else if (this.guard && this.endpoints.pendingBytes > this.guard.maxPendingBytes) {
        code = ResetCode.LIMIT;
        reason = `more than ${this.guard.maxPendingBytes} bytes sent on streams the hub has not answered yet`;
      }
      if (code !== undefined) {
        this.endpoints.dropPending(id);
        const accepted = this.endpoints.get(id);
        if (accepted?.kind === 'stream') accepted.stream.resetBySession(code, reason);
        else this.sendNow(encodeFrame({ type: FrameType.RST, streamId: id, code, reason }));
        if (code === ResetCode.LIMIT) this.reportRefusal(id, code, reason);
        return;
      }
    }
    pending.frames.push(message);
  }

  /** Streams this session holds: accepted, spliced and pending. */
  private heldStreams(): number {
    return this.endpoints.size;
  }

  /** Refuses a stream at a bound (before it became pending, or instead of its splice): RST LIMIT, reported. */
  private refuseStream(id: number, reason: string): void {
    this.sendNow(
      encodeFrame({ type: FrameType.RST, streamId: id, code: ResetCode.LIMIT, reason: shortReason(reason) }),
    );
    this.reportRefusal(id, ResetCode.LIMIT, reason);
  }

  private updateUnsentLimit(): void {
    const guard = this.guard;
    this.unsentLimit = guard
      ? guard.unsentSlackBytes +
        Math.min(this.endpoints.spliceWindows + this.retiredWindows, guard.unsentWindowCapBytes)
      : Infinity;
  }

  /** The peer leaves more unsent than its streams' windows explain: it is not reading. End the session. */
  private overflowed(): void {
    if (this.isClosed) return;
    const unsent = this.sink.bufferedAmount();
    const reason = `the agent is not reading: ${unsent} bytes unsent at the hub (limit ${this.unsentLimit})`;
    this.reportRefusal(0, ResetCode.LIMIT, reason);
    // Straight to the sink: sendNow would find the limit crossed again.
    this.sink.send(
      encodeFrame({
        type: FrameType.GOAWAY,
        streamId: 0,
        code: ResetCode.LIMIT,
        reason: shortReason(reason),
      }),
    );
    this.shutdown(WsCloseCode.POLICY, reason, false);
    // Whatever it owes the peer stays in memory until the socket goes: not the transport's usual 5 s of grace.
    setTimeout(() => this.sink.terminate?.(), OVERFLOW_GRACE_MS).unref();
  }

  /** @internal Called by PendingRequest. */
  acceptPending(id: number, meta: JsonObject): MuxStream {
    const endpoint = this.endpoints.get(id);
    const pending = endpoint?.kind === 'pending' ? endpoint.open : undefined;
    const stream = new MuxStream({
      id,
      meta,
      host: this,
      sendWindow: pending?.window ?? this.initialWindow,
      receiveWindow: pending?.window ?? this.initialWindow,
    });
    if (this.isClosed || !pending) {
      queueMicrotask(() => stream.onSessionClosed(this.isClosed ? 'session closed' : 'stream already gone'));
      return stream;
    }
    this.endpoints.acceptPending(id, stream);
    // Replay after accept() returns, so the caller has attached its 'data'/'reset' listeners. Frames arriving
    // before the replay keep going to `pending.frames` (the endpoint stays 'pending' until then), preserving order.
    queueMicrotask(() => {
      try {
        for (let i = 0; i < pending.frames.length; i++) {
          if (this.isClosed) break;
          deliver(stream, decodeFrame(pending.frames[i]!));
        }
      } catch (err) {
        this.fail(err);
      } finally {
        this.endpoints.dropPending(id, pending);
      }
    });
    return stream;
  }

  /** @internal Called by PendingRequest. */
  splicePending(
    id: number,
    peer: MuxSession,
    window: number,
    meta: JsonObject,
    onEnd?: SpliceEndListener,
  ): void {
    const refused = (code: ResetCode, reason: string): void =>
      onEnd?.({ end: 'refused', code, reason, bytesFromA: 0, bytesFromB: 0 });
    if (this.isClosed) return refused(ResetCode.SESSION_CLOSED, 'session closed');
    const pending = this.endpoints.dropPending(id);
    if (!pending) return refused(ResetCode.CANCEL, 'stream already gone');
    const offline = (): void => {
      this.sendNow(
        encodeFrame({
          type: FrameType.RST,
          streamId: id,
          code: ResetCode.OFFLINE,
          reason: 'peer session offline',
        }),
      );
      refused(ResetCode.OFFLINE, 'peer session offline');
    };
    if (peer.closed || peer === this) return offline();
    const peerGuard = peer.guard;
    if (peerGuard && peer.heldStreams() >= peerGuard.maxStreams) {
      const reason = `the service's agent session already holds ${peer.heldStreams()} streams (the hub's limit is ${peerGuard.maxStreams})`;
      this.refuseStream(id, reason);
      return refused(ResetCode.LIMIT, reason);
    }
    // Same window as the original OPEN (credit stays end to end between the two agents), up to the hub's bound.
    const relayed = this.guard ? Math.min(window, this.guard.maxStreamWindow) : window;
    const peerId = peer.allocateStreamId();
    peer.sendNow(encodeFrame({ type: FrameType.OPEN, streamId: peerId, window: relayed, meta }));
    // The OPEN itself may have found the peer not reading (its guard closed it): the opener learns at once.
    if (peer.closed) return offline();
    const splice = new Splice(this, id, peer, peerId, relayed, onEnd);
    this.addSplice(id, splice);
    peer.addSplice(peerId, splice);
    for (const message of pending.frames) splice.forward(this, message, readFrameType(message));
  }

  /** @internal Called by PendingRequest. */
  rejectPending(id: number, code: ResetCode, reason: string): void {
    if (!this.endpoints.dropPending(id)) return;
    this.sendNow(encodeFrame({ type: FrameType.RST, streamId: id, code, reason: shortReason(reason) }));
  }

  // -------------------------------------------------------------------------------------------------------------
  // Sending

  private flush(): void {
    if (this.flushing || this.isClosed) return;
    this.flushing = true;
    try {
      while (this.ready.size > 0 && this.sink.bufferedAmount() <= this.highWaterMark) {
        const stream = this.ready.values().next().value as MuxStream;
        this.ready.delete(stream);
        stream.sendNextChunk();
        if (stream.hasSendable()) this.ready.add(stream); // to the back of the line: round-robin
      }
    } finally {
      this.flushing = false;
    }
  }

  private sendPing(): void {
    const data = Buffer.allocUnsafe(PING_PAYLOAD_SIZE);
    data.writeBigUInt64BE(this.pingCounter++ & 0xffff_ffff_ffff_ffffn);
    this.sendNow(encodeFrame({ type: FrameType.PING, streamId: 0, data }));
  }

  // -------------------------------------------------------------------------------------------------------------
  // Liveness and shutdown

  /**
   * One timer for the whole session rather than one reset per frame (frames arrive at ~100k/s on a busy link):
   * when it fires, it checks how long ago the last frame came and re-arms for the remainder.
   */
  private armDeadTimer(ms: number): void {
    this.deadTimer = setTimeout(() => {
      const silentFor = Date.now() - this.lastReceivedAt;
      if (silentFor >= this.deadAfterMs) {
        this.emit('dead');
        this.shutdown(WsCloseCode.GOING_AWAY, `peer silent for ${silentFor} ms`, true);
      } else {
        this.armDeadTimer(this.deadAfterMs - silentFor);
      }
    }, ms);
    this.deadTimer.unref();
  }

  private fail(err: unknown): void {
    const protocol = err instanceof ConnectError && err.code === ErrorCodes.PROTOCOL_ERROR;
    const error = protocol
      ? err
      : new ConnectError(ErrorCodes.INTERNAL, `${this.label}: session handler failed: ${messageOf(err)}`);
    if (this.listenerCount('error') > 0) this.emit('error', error);
    this.shutdown(protocol ? WsCloseCode.PROTOCOL_ERROR : WsCloseCode.INTERNAL, error.message, false);
  }

  private shutdown(code: WsCloseCode, reason: string, terminate: boolean): void {
    if (this.isClosed) return;
    this.isClosed = true;
    clearInterval(this.pingTimer);
    clearTimeout(this.deadTimer);
    this.ready.clear();
    // Emptied first: streams and splices told below find nothing left to detach from.
    const { streams, splices } = this.endpoints.takeAll();
    this.retiredWindows = 0;
    for (const stream of streams) stream.onSessionClosed(reason);
    for (const splice of splices) splice.sessionClosed(this, shortReason(reason));
    try {
      if (terminate && this.sink.terminate) this.sink.terminate();
      else this.sink.close(code, reason);
    } catch {
      // The transport is going away anyway; a failing close must not escape into an event handler.
    }
    this.emit('close', reason);
  }
}

/** Routes a decoded stream frame to its stream. */
function deliver(stream: MuxStream, frame: Frame): void {
  switch (frame.type) {
    case FrameType.DATA:
      stream.onData([frame.payload], frame.payload.length);
      return;
    case FrameType.WINDOW:
      stream.onWindow(frame.increment);
      return;
    case FrameType.ACCEPT:
      stream.onAccept();
      return;
    case FrameType.FIN:
      stream.onFin();
      return;
    case FrameType.RST:
      stream.onReset(frame.code, frame.reason);
      return;
    default:
      return;
  }
}

class PendingRequest implements OpenRequest {
  private decided = false;

  constructor(
    private readonly session: MuxSession,
    readonly streamId: number,
    readonly meta: Record<string, unknown>,
    private readonly window: number,
  ) {}

  accept(): MuxStream {
    this.decide('accept');
    return this.session.acceptPending(this.streamId, this.meta);
  }

  splice(peer: MuxSession, meta: Record<string, unknown>, onEnd?: SpliceEndListener): void {
    this.decide('splice');
    this.session.splicePending(this.streamId, peer, this.window, meta, onEnd);
  }

  reject(code: ResetCode, reason: string): void {
    if (this.decided) return;
    this.decided = true;
    this.session.rejectPending(this.streamId, code, reason);
  }

  private decide(what: string): void {
    if (this.decided) {
      throw new ConnectError(
        ErrorCodes.INTERNAL,
        `stream ${this.streamId}: ${what}() after the OPEN was decided`,
      );
    }
    this.decided = true;
  }
}

function clampInt(value: number, min: number, max: number): number {
  return Math.max(min, Math.min(max, Math.floor(value)));
}
