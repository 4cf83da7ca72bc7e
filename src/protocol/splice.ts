/**
 * A splice joins one stream of session A to one stream of session B at the hub: "the hub only forwards".
 *
 * Frames are forwarded as received: the stream id is rewritten in place in the incoming message (writeStreamId) and
 * the same Buffer is sent on the other transport. No payload copy, no credit accounting at the hub: credit is end to
 * end between the two agents (each enforces its own window), so the hub holds at most what the transports buffer.
 */
import { encodeFrame, FrameType, ResetCode, writeStreamId } from './frames.js';

/** What a splice needs from each of its two sessions. Internal: implemented by MuxSession. */
export interface SpliceHost {
  sendNow(frame: Buffer): void;
  sendParts(header: Buffer, parts: readonly Buffer[], payloadLength: number): void;
  detachSplice(streamId: number): void;
}

export class Splice {
  private finFromA = false;
  private finFromB = false;
  private done = false;

  constructor(
    private readonly a: SpliceHost,
    private readonly aId: number,
    private readonly b: SpliceHost,
    private readonly bId: number,
  ) {}

  /** Forwards a frame (already validated by the receiving session) that arrived on `from`'s side. */
  forward(from: SpliceHost, message: Buffer, type: FrameType): void {
    if (this.done) return;
    const fromA = from === this.a;
    writeStreamId(message, fromA ? this.bId : this.aId);
    (fromA ? this.b : this.a).sendNow(message);
    if (type === FrameType.RST) {
      this.finish();
    } else if (type === FrameType.FIN) {
      if (fromA) this.finFromA = true;
      else this.finFromB = true;
      // Both directions finished: nothing but stray WINDOW frames can follow, and nobody needs them.
      if (this.finFromA && this.finFromB) this.finish();
    }
  }

  /** The data path: a DATA frame as its header and payload pieces, forwarded without joining them. */
  forwardParts(from: SpliceHost, header: Buffer, parts: readonly Buffer[], payloadLength: number): void {
    if (this.done) return;
    const fromA = from === this.a;
    writeStreamId(header, fromA ? this.bId : this.aId);
    (fromA ? this.b : this.a).sendParts(header, parts, payloadLength);
  }

  /** `side`'s session closed: the agent on the other side gets RST SESSION_CLOSED. */
  sessionClosed(side: SpliceHost, reason: string): void {
    if (this.done) return;
    const [other, otherId] = side === this.a ? [this.b, this.bId] : [this.a, this.aId];
    this.finish();
    other.sendNow(
      encodeFrame({ type: FrameType.RST, streamId: otherId, code: ResetCode.SESSION_CLOSED, reason }),
    );
  }

  private finish(): void {
    this.done = true;
    this.a.detachSplice(this.aId);
    this.b.detachSplice(this.bId);
  }
}
