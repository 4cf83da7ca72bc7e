/**
 * An in-memory transport between two MuxSessions, for tests (here and in the hub/agent code): a FrameSink per
 * direction whose bufferedAmount is the bytes sent but not yet delivered, so backpressure behaves like a socket's.
 *
 * Delivery is either automatic (on setImmediate, like a socket's I/O callbacks: never re-entrant with the send) or
 * manual (`deliver()`), for deterministic tests. A direction can be paused to simulate a stalled network.
 */
import type { FrameSink, MuxSession } from './session.js';
import { WsCloseCode } from './ws-codec.js';

export class MemoryPipe implements FrameSink {
  private readonly outbox: Buffer[] = [];
  private bytes = 0;
  private scheduled = false;
  private paused = false;
  private closing: { code: number; reason: string } | undefined;
  private from: MuxSession | undefined;
  private to: MuxSession | undefined;
  /** Every close(code, reason) call, for assertions. */
  readonly closes: { code: number; reason: string }[] = [];
  /** Frames delivered so far. */
  delivered = 0;

  constructor(private readonly auto: boolean) {}

  /** Wires the pipe: frames sent by `from` are delivered to `to`. */
  connect(from: MuxSession, to: MuxSession): void {
    this.from = from;
    this.to = to;
  }

  send(frame: Buffer): void {
    if (this.closing) return;
    // A copy, as a real transport hands the receiver its own buffer (the hub rewrites ids in place).
    this.outbox.push(Buffer.from(frame));
    this.bytes += frame.length;
    this.schedule();
  }

  bufferedAmount(): number {
    return this.bytes;
  }

  close(code: number, reason: string): void {
    this.closes.push({ code, reason });
    if (this.closing) return;
    this.closing = { code, reason };
    this.schedule();
  }

  terminate(): void {
    this.outbox.length = 0;
    this.bytes = 0;
    this.close(WsCloseCode.ABNORMAL, 'terminated');
  }

  pause(): void {
    this.paused = true;
  }

  resume(): void {
    this.paused = false;
    this.schedule();
  }

  /** Delivers up to `max` queued frames now (manual mode, or to step through a test). Returns how many. */
  deliver(max = Infinity): number {
    let n = 0;
    while (n < max && this.outbox.length > 0) {
      const frame = this.outbox.shift()!;
      this.bytes -= frame.length;
      n++;
      this.delivered++;
      this.to?.receive(frame);
    }
    if (n > 0) this.from?.onTransportDrain();
    if (this.outbox.length === 0 && this.closing && this.to && !this.to.closed) {
      this.to.close(`peer closed (${this.closing.code} ${this.closing.reason})`);
    }
    return n;
  }

  get pending(): number {
    return this.outbox.length;
  }

  private schedule(): void {
    if (!this.auto || this.scheduled || this.paused) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      if (!this.paused) this.deliver();
    });
  }
}

/** Two pipes, one per direction. Create the sessions with `ab` / `ba` as sinks, then call `connect(a, b)`. */
export class MemoryLink {
  readonly ab: MemoryPipe;
  readonly ba: MemoryPipe;

  constructor(opts: { auto?: boolean } = {}) {
    this.ab = new MemoryPipe(opts.auto ?? true);
    this.ba = new MemoryPipe(opts.auto ?? true);
  }

  connect(a: MuxSession, b: MuxSession): void {
    this.ab.connect(a, b);
    this.ba.connect(b, a);
  }

  /** Manual mode: deliver both ways until nothing is in flight. */
  settle(maxRounds = 100_000): void {
    for (let i = 0; i < maxRounds; i++) {
      if (this.ab.deliver() + this.ba.deliver() === 0) return;
    }
    throw new Error('MemoryLink.settle: still busy');
  }
}
