/**
 * One multiplexed stream: the state machine and the credit accounting of both directions.
 *
 * Send side: `write()` appends to a per-stream queue; the session drains queues round-robin (a DATA chunk per stream
 * per turn) while it has credit for that stream and the transport is under its high-water mark. So a slow reader
 * only stalls its own stream, and a bulk stream cannot starve the others.
 *
 * Receive side: the peer may send at most the window we granted. DATA beyond it resets the stream (FLOW_CONTROL)
 * and is never buffered, so our memory per stream is bounded by the window whatever the peer does. Window is granted
 * back (WINDOW frames) only as the consumer reports `consumed(n)`, batched at window/4 to keep WINDOW frames rare.
 *
 * States: open → half-closed (our FIN sent, or the peer's FIN received) → closed (both FINs, or a reset); the
 * machine and its transitions are in stream-state.ts.
 *
 * Events:
 *   'data'   (buf: Buffer)  received bytes; call consumed(buf.length) once they have left your memory
 *   'end'    ()             the peer sent FIN (no more data will arrive; we may still write)
 *   'accept' ()             the peer ACCEPTed (its target is connected)
 *   'drain'  ()             write() returned false earlier and the queue is now empty
 *   'reset'  (StreamReset)  the stream was aborted by the peer (remote: true) or by the session (flow-control or
 *                           protocol violation, session closed). Not emitted for our own reset() call.
 *   'close'  ()             once, when the stream is fully closed (both FINs, or any reset)
 */
import { EventEmitter } from 'node:events';
import { ConnectError, ErrorCodes } from '../api/errors.js';
import { dataHeader, encodeFrame, FrameType, MAX_U32, ResetCode, shortReason } from './frames.js';
import {
  isFinPending,
  isLocalEnded,
  isRemoteEnded,
  nextStreamState,
  StreamState,
  type StreamEvent,
} from './stream-state.js';

export interface StreamReset {
  code: ResetCode;
  reason: string;
  /** true when the peer sent the RST; false when this side's session reset the stream. */
  remote: boolean;
}

/** What a stream needs from its session. Internal: implemented by MuxSession. */
export interface StreamHost {
  readonly maxDataChunk: number;
  /** Send a frame now, bypassing the DATA queues (WINDOW/FIN/RST/ACCEPT). */
  sendNow(frame: Buffer): void;
  /** Send a frame given as its header and payload pieces (DATA), without joining them. */
  sendParts(header: Buffer, parts: readonly Buffer[], payloadLength: number): void;
  /** The stream has something to send: schedule it in the round-robin and flush what the transport allows. */
  wake(stream: MuxStream): void;
  /** The stream reached 'closed': forget it. */
  forget(stream: MuxStream): void;
}

export interface MuxStreamInit {
  id: number;
  meta: Record<string, unknown>;
  host: StreamHost;
  /** Initial send credit: the peer's receive window. */
  sendWindow: number;
  /** Our receive window, granted to the peer. */
  receiveWindow: number;
}

export class MuxStream extends EventEmitter {
  readonly id: number;
  readonly meta: Record<string, unknown>;
  private readonly host: StreamHost;

  // --- send side
  private readonly queue: Buffer[] = [];
  private queued = 0;
  private credit: number;
  /** write() returned false: 'drain' is owed once the queue empties. */
  private needDrain = false;

  // --- receive side
  private readonly window: number;
  /** Bytes the peer may still send before we grant more. */
  private receiveCredit: number;
  private unconsumed = 0;
  /** Consumed bytes not yet granted back with a WINDOW frame. */
  private unannounced = 0;
  /** The peer's ACCEPT arrived ('accept' is emitted once). */
  private accepted = false;

  /** FINs and resets: changed only by move(). */
  private state: StreamState = StreamState.OPEN;
  /** The state a reset cut short: what had ended by then still shows in localEnded/remoteEnded. */
  private resetFrom: StreamState | undefined;

  constructor(init: MuxStreamInit) {
    super();
    this.id = init.id;
    this.meta = init.meta;
    this.host = init.host;
    this.credit = init.sendWindow;
    this.window = init.receiveWindow;
    this.receiveCredit = init.receiveWindow;
  }

  /** Bytes written but not yet sent (waiting for credit or for the transport). */
  get queuedBytes(): number {
    return this.queued;
  }
  /** Bytes received and delivered through 'data' that the consumer has not reported with consumed(). */
  get unconsumedBytes(): number {
    return this.unconsumed;
  }
  /** How many more bytes we may send before the peer grants more window. */
  get sendCredit(): number {
    return this.credit;
  }
  get closed(): boolean {
    return this.state === StreamState.CLOSED;
  }
  /** end() was called (our FIN may still be waiting behind queued data). */
  get localEnded(): boolean {
    return isLocalEnded(this.resetFrom ?? this.state);
  }
  /** The peer's FIN arrived. */
  get remoteEnded(): boolean {
    return isRemoteEnded(this.resetFrom ?? this.state);
  }

  /**
   * Queues `chunk` for sending (ownership passes to the stream: do not modify it afterwards). Returns false when
   * the caller should pause its source until 'drain' (the queue reached one max DATA chunk, like a Node Writable's
   * highWaterMark). Writing after end() throws; writing after the stream closed (reset) is ignored.
   */
  write(chunk: Buffer): boolean {
    if (this.localEnded) {
      throw new ConnectError(ErrorCodes.PROTOCOL_ERROR, `write after end on stream ${this.id}`);
    }
    if (this.closed) return false;
    if (chunk.length > 0) {
      this.queue.push(chunk);
      this.queued += chunk.length;
      this.host.wake(this);
    }
    if (this.closed) return false;
    if (this.queued >= this.host.maxDataChunk) {
      this.needDrain = true;
      return false;
    }
    return true;
  }

  /** Half-close: FIN goes out after everything already written (it never overtakes queued DATA). Idempotent. */
  end(): void {
    if (!this.move('end')) return; // ended already, or closed
    if (this.queued === 0) this.sendFin();
    // else: the session sends FIN right after the last queued chunk (see sendNextChunk).
  }

  /** Aborts both directions: RST to the peer, queued data dropped, 'close' emitted. Idempotent. */
  reset(code: ResetCode, reason: string): void {
    if (this.closed) return;
    this.host.sendNow(
      encodeFrame({ type: FrameType.RST, streamId: this.id, code, reason: shortReason(reason) }),
    );
    this.terminate();
  }

  /** Acceptor side: tell the opener that the target is connected. */
  accept(): void {
    if (this.closed) return;
    this.host.sendNow(encodeFrame({ type: FrameType.ACCEPT, streamId: this.id }));
  }

  /** The consumer drained `bytes` of received data: grant them back to the peer (batched). */
  consumed(bytes: number): void {
    if (this.closed || !(bytes > 0)) return;
    // Clamp: over-reporting must never grant the peer more than the window (that would unbound our memory).
    const n = Math.min(Math.floor(bytes), this.unconsumed);
    this.unconsumed -= n;
    this.unannounced += n;
    // Granted even after the peer's FIN (harmless: one rare frame): a peer that wrongly keeps sending then hits the
    // DATA-after-FIN check and the stream resets, instead of the peer stalling forever on zero credit.
    if (this.unannounced >= Math.max(1, Math.floor(this.window / 4))) {
      const increment = this.unannounced;
      this.unannounced = 0;
      this.receiveCredit += increment;
      this.host.sendNow(encodeFrame({ type: FrameType.WINDOW, streamId: this.id, increment }));
    }
  }

  // -------------------------------------------------------------------------------------------------------------
  // Called by the session's scheduler.

  /** True when the scheduler can make progress on this stream now (data with credit, or a FIN to send). */
  hasSendable(): boolean {
    if (this.closed) return false;
    return (this.queued > 0 && this.credit > 0) || (this.queued === 0 && isFinPending(this.state));
  }

  /**
   * Sends one DATA frame of up to maxDataChunk bytes (and no more than the credit), made of as many queued writes
   * as fit, without copying them; then the FIN if it was waiting for the queue.
   */
  sendNextChunk(): void {
    const limit = Math.min(this.credit, this.host.maxDataChunk);
    if (this.queue.length > 0 && limit > 0) {
      const parts: Buffer[] = [];
      let n = 0;
      while (n < limit && this.queue.length > 0) {
        const head = this.queue[0]!;
        const take = Math.min(head.length, limit - n);
        if (take === head.length) {
          parts.push(head);
          this.queue.shift();
        } else {
          parts.push(head.subarray(0, take));
          this.queue[0] = head.subarray(take);
        }
        n += take;
      }
      this.queued -= n;
      this.credit -= n;
      this.host.sendParts(dataHeader(this.id), parts, n);
    }
    if (this.queued === 0) {
      if (isFinPending(this.state)) this.sendFin();
      if (this.needDrain && !this.closed) {
        this.needDrain = false;
        this.emit('drain');
      }
    }
  }

  // -------------------------------------------------------------------------------------------------------------
  // Called by the session when a frame for this stream arrives.

  /** A DATA frame's payload, in one or more pieces (each becomes a 'data' event); `length` is their total. */
  onData(parts: readonly Buffer[], length: number): void {
    if (this.closed) return;
    if (this.remoteEnded) {
      this.resetBySession(ResetCode.PROTOCOL, 'DATA after FIN');
      return;
    }
    if (length > this.receiveCredit) {
      // Not buffered: a peer ignoring our window must not grow our memory.
      this.resetBySession(
        ResetCode.FLOW_CONTROL,
        `peer sent ${length} bytes with ${this.receiveCredit} bytes of window left`,
      );
      return;
    }
    this.receiveCredit -= length;
    this.unconsumed += length;
    for (const part of parts) {
      if (this.closed) return; // a listener reset the stream
      if (part.length > 0) this.emit('data', part);
    }
  }

  onWindow(increment: number): void {
    if (this.closed) return;
    this.credit += increment;
    if (this.credit > MAX_U32) {
      this.resetBySession(ResetCode.FLOW_CONTROL, 'peer granted more than 2^32-1 bytes of window');
      return;
    }
    if (this.hasSendable()) this.host.wake(this);
  }

  onAccept(): void {
    if (this.closed || this.accepted) return;
    this.accepted = true;
    this.emit('accept');
  }

  onFin(): void {
    if (this.closed) return;
    if (!this.move('finReceived')) {
      this.resetBySession(ResetCode.PROTOCOL, 'second FIN');
      return;
    }
    this.emit('end');
    this.closeIfDone();
  }

  onReset(code: ResetCode, reason: string): void {
    if (this.closed) return;
    this.terminate({ code, reason, remote: true });
  }

  /** The session is going away: no RST can be sent, just tell the user. */
  onSessionClosed(reason: string): void {
    if (this.closed) return;
    this.terminate({ code: ResetCode.SESSION_CLOSED, reason, remote: false });
  }

  /** This side detected a stream-level violation: RST the peer and tell the user. */
  resetBySession(code: ResetCode, reason: string): void {
    if (this.closed) return;
    this.host.sendNow(
      encodeFrame({ type: FrameType.RST, streamId: this.id, code, reason: shortReason(reason) }),
    );
    this.terminate({ code, reason, remote: false });
  }

  // -------------------------------------------------------------------------------------------------------------

  /** Takes the transition `event` leads to from the current state; false (nothing changed) when there is none. */
  private move(event: StreamEvent): boolean {
    const next = nextStreamState(this.state, event);
    if (next === undefined) return false;
    if (event === 'reset') this.resetFrom = this.state;
    this.state = next;
    return true;
  }

  private sendFin(): void {
    if (!this.move('finSent')) return;
    this.host.sendNow(encodeFrame({ type: FrameType.FIN, streamId: this.id }));
    this.closeIfDone();
  }

  /** Both FINs went through (CLOSING): the stream closes. */
  private closeIfDone(): void {
    if (this.move('closed')) {
      this.host.forget(this);
      this.emit('close');
    }
  }

  /** Callers have checked that the stream is not closed. */
  private terminate(reset?: StreamReset): void {
    this.move('reset');
    this.queue.length = 0;
    this.queued = 0;
    this.needDrain = false;
    this.host.forget(this);
    if (reset) this.emit('reset', reset);
    this.emit('close');
  }
}
