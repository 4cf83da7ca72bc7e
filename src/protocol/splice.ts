/**
 * A splice joins one stream of session A to one stream of session B at the hub: "the hub only forwards".
 *
 * Frames are forwarded as received: the stream id is rewritten in place in the incoming message (writeStreamId) and
 * the same Buffer is sent on the other transport. No payload copy.
 *
 * Credit is end to end between the two agents (each enforces its own window), but the hub does not take their word
 * for it: it sees every OPEN, DATA and WINDOW of the stream, so it keeps the same account per direction. A side that
 * sends DATA beyond what the other side granted is reset (RST FLOW_CONTROL to both), so a sender that ignores WINDOW
 * cannot pile its bytes up in the hub in front of a receiver that does not read. What is left (a receiver that grants
 * credit but does not read its socket) is bounded per session by MuxSession's unsent-bytes guard.
 */
import { encodeFrame, FrameType, HEADER_SIZE, ResetCode, writeStreamId } from './frames.js';

/** What a splice needs from each of its two sessions. Internal: implemented by MuxSession. */
export interface SpliceHost {
  sendNow(frame: Buffer): void;
  sendParts(header: Buffer, parts: readonly Buffer[], payloadLength: number): void;
  detachSplice(streamId: number): void;
  /** This side's peer broke the stream's credit: the session reports it (its 'refused' event). */
  reportRefusal(streamId: number, code: ResetCode, reason: string): void;
}

/** How a spliced stream ended, told once to its `onEnd` listener (the hub's audit log). */
export interface SpliceEnd {
  /** DATA payload bytes A (the opener) sent toward B, and B toward A: what the hub forwarded. */
  bytesFromA: number;
  bytesFromB: number;
  /** fin: both FINs went through; reset: either side (or a session, or the hub) reset it; refused: never opened. */
  end: 'fin' | 'reset' | 'refused';
  code?: ResetCode;
  reason?: string;
}

export type SpliceEndListener = (end: SpliceEnd) => void;

export class Splice {
  private finFromA = false;
  private finFromB = false;
  private done = false;
  /** DATA bytes side A may still send toward B (B's window, grown by B's WINDOW frames), and the other way. */
  private creditFromA: number;
  private creditFromB: number;
  /** Plain number counters, bumped where credit is spent: nothing allocated per frame. */
  private bytesFromA = 0;
  private bytesFromB = 0;

  constructor(
    private readonly a: SpliceHost,
    private readonly aId: number,
    private readonly b: SpliceHost,
    private readonly bId: number,
    /** The stream's window, the same both ways (the OPEN's, as relayed). */
    readonly window: number,
    private readonly onEnd?: SpliceEndListener,
  ) {
    this.creditFromA = window;
    this.creditFromB = window;
  }

  /** Forwards a frame (already validated by the receiving session) that arrived on `from`'s side. */
  forward(from: SpliceHost, message: Buffer, type: FrameType): void {
    if (this.done) return;
    const fromA = from === this.a;
    if (type === FrameType.DATA) {
      if (!this.spend(fromA, message.length - HEADER_SIZE)) return;
    } else if (type === FrameType.WINDOW) {
      // A grants B (or B grants A) more room: the other side's credit grows, never beyond the window (an honest
      // receiver grants back only what it consumed; more would let its partner fill the hub toward it).
      const increment = message.readUInt32BE(HEADER_SIZE);
      const credit = (fromA ? this.creditFromB : this.creditFromA) + increment;
      if (credit > this.window) {
        this.violation(
          fromA,
          `granted ${credit - this.window} bytes of credit beyond the stream's window of ${this.window}`,
        );
        return;
      }
      if (fromA) this.creditFromB = credit;
      else this.creditFromA = credit;
    }
    // RSTs are rare: reading their code and reason (before the frame is handed on) costs the data path nothing.
    const reset =
      type === FrameType.RST
        ? {
            end: 'reset' as const,
            code: message.readUInt16BE(HEADER_SIZE) as ResetCode,
            reason: message.toString('utf8', HEADER_SIZE + 2),
          }
        : undefined;
    writeStreamId(message, fromA ? this.bId : this.aId);
    (fromA ? this.b : this.a).sendNow(message);
    if (reset) {
      this.finish(reset);
    } else if (type === FrameType.FIN) {
      if (fromA) this.finFromA = true;
      else this.finFromB = true;
      // Both directions finished: nothing but stray WINDOW frames can follow, and nobody needs them.
      if (this.finFromA && this.finFromB) this.finish({ end: 'fin' });
    }
  }

  /** The data path: a DATA frame as its header and payload pieces, forwarded without joining them. */
  forwardParts(from: SpliceHost, header: Buffer, parts: readonly Buffer[], payloadLength: number): void {
    if (this.done) return;
    const fromA = from === this.a;
    if (!this.spend(fromA, payloadLength)) return;
    writeStreamId(header, fromA ? this.bId : this.aId);
    (fromA ? this.b : this.a).sendParts(header, parts, payloadLength);
  }

  /** `side`'s session closed: the agent on the other side gets RST SESSION_CLOSED. */
  sessionClosed(side: SpliceHost, reason: string): void {
    if (this.done) return;
    const [other, otherId] = side === this.a ? [this.b, this.bId] : [this.a, this.aId];
    this.finish({ end: 'reset', code: ResetCode.SESSION_CLOSED, reason });
    other.sendNow(
      encodeFrame({ type: FrameType.RST, streamId: otherId, code: ResetCode.SESSION_CLOSED, reason }),
    );
  }

  /** Takes `bytes` of the sender's credit; false (and the stream reset both ways) when it had less. */
  private spend(fromA: boolean, bytes: number): boolean {
    const left = (fromA ? this.creditFromA : this.creditFromB) - bytes;
    if (fromA) {
      this.creditFromA = left;
      this.bytesFromA += bytes;
    } else {
      this.creditFromB = left;
      this.bytesFromB += bytes;
    }
    if (left >= 0) return true;
    this.violation(fromA, `sent ${-left} bytes beyond the stream's window of ${this.window}`);
    return false;
  }

  /** One side broke the stream's credit: RST FLOW_CONTROL to both, the reason to the offender, reported. */
  private violation(fromA: boolean, reason: string): void {
    const [sender, senderId, receiver, receiverId] = fromA
      ? [this.a, this.aId, this.b, this.bId]
      : [this.b, this.bId, this.a, this.aId];
    this.finish({ end: 'reset', code: ResetCode.FLOW_CONTROL, reason });
    sender.sendNow(
      encodeFrame({ type: FrameType.RST, streamId: senderId, code: ResetCode.FLOW_CONTROL, reason }),
    );
    receiver.sendNow(
      encodeFrame({
        type: FrameType.RST,
        streamId: receiverId,
        code: ResetCode.FLOW_CONTROL,
        reason: 'the other side broke flow control',
      }),
    );
    sender.reportRefusal(senderId, ResetCode.FLOW_CONTROL, reason);
  }

  private finish(how: Pick<SpliceEnd, 'end' | 'code' | 'reason'>): void {
    this.done = true;
    this.a.detachSplice(this.aId);
    this.b.detachSplice(this.bId);
    // Bytes refused for want of credit were never forwarded: they are not counted (the spend failed first).
    this.onEnd?.({ ...how, bytesFromA: this.bytesFromA, bytesFromB: this.bytesFromB });
  }
}
