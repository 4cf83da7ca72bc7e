/**
 * What a session holds per stream id, in one map: an accepted or opened stream, a splice end (the hub), or an OPEN
 * waiting for the application's decision. A frame is routed with one lookup, and the counts the hub's limits
 * check (endpoints held, pending OPENs and the bytes they hold, the windows of the splices) are kept here, where
 * endpoints come and go, rather than summed from several maps.
 *
 * An accepted OPEN stays 'pending' until the frames it held have been replayed to its new stream (frames that
 * arrive meanwhile must queue behind them): it then carries that stream, which counts as a stream, and becomes a
 * plain 'stream' endpoint when the pending part is dropped.
 */
import type { Splice } from './splice.js';
import type { MuxStream } from './stream.js';

/** An OPEN awaiting the application's decision; frames that arrive meanwhile are held (bounded by the window). */
export interface PendingOpen {
  readonly window: number;
  readonly frames: Buffer[];
  dataBytes: number;
}

export type Endpoint =
  | { readonly kind: 'stream'; readonly stream: MuxStream }
  | { readonly kind: 'splice'; readonly splice: Splice }
  | {
      readonly kind: 'pending';
      readonly open: PendingOpen;
      /** Set by accept() while the held frames are replayed; cleared if the stream closes meanwhile. */
      accepted: MuxStream | undefined;
    };

export class EndpointTable {
  private readonly byId = new Map<number, Endpoint>();
  private pendings = 0;
  private spliceEnds = 0;
  private liveStreams = 0;
  private heldBytes = 0;
  private windows = 0;

  /** The endpoint of stream `id`; undefined for an id this session does not hold (a frame that crossed an RST). */
  get(id: number): Endpoint | undefined {
    return this.byId.get(id);
  }

  /** Endpoints of every kind: what the hub's maxStreams bounds. */
  get size(): number {
    return this.byId.size;
  }
  /** OPENs waiting for a decision. */
  get pendingCount(): number {
    return this.pendings;
  }
  /** Streams, including accepted ones whose held frames are being replayed. */
  get streamCount(): number {
    return this.liveStreams;
  }
  get spliceCount(): number {
    return this.spliceEnds;
  }
  /** DATA bytes held for all pending OPENs together. */
  get pendingBytes(): number {
    return this.heldBytes;
  }
  /** Sum of the splices' windows: what may legitimately sit unsent toward this session's peer. */
  get spliceWindows(): number {
    return this.windows;
  }

  addStream(stream: MuxStream): void {
    this.byId.set(stream.id, { kind: 'stream', stream });
    this.liveStreams++;
  }

  addSplice(id: number, splice: Splice): void {
    this.byId.set(id, { kind: 'splice', splice });
    this.spliceEnds++;
    this.windows += splice.window;
  }

  addPending(id: number, open: PendingOpen): void {
    this.byId.set(id, { kind: 'pending', open, accepted: undefined });
    this.pendings++;
  }

  /** Counts `bytes` of DATA held for a pending OPEN. */
  holdBytes(open: PendingOpen, bytes: number): void {
    open.dataBytes += bytes;
    this.heldBytes += bytes;
  }

  /** The pending OPEN `id` got its stream: it counts from now on, while its held frames are replayed. */
  acceptPending(id: number, stream: MuxStream): void {
    const endpoint = this.byId.get(id);
    if (endpoint?.kind !== 'pending') return;
    endpoint.accepted = stream;
    this.liveStreams++;
  }

  /**
   * Forgets pending OPEN `id` (decided, refused, failed, or replayed) and the bytes it held; an accepted stream it
   * carried stays, as a 'stream' endpoint. With `only`, nothing happens unless `id`'s pending OPEN is that one.
   */
  dropPending(id: number, only?: PendingOpen): PendingOpen | undefined {
    const endpoint = this.byId.get(id);
    if (endpoint?.kind !== 'pending' || (only && endpoint.open !== only)) return undefined;
    this.pendings--;
    this.heldBytes -= endpoint.open.dataBytes;
    if (endpoint.accepted) this.byId.set(id, { kind: 'stream', stream: endpoint.accepted });
    else this.byId.delete(id);
    return endpoint.open;
  }

  /** Forgets a stream that closed; a no-op for one this table does not hold. */
  removeStream(stream: MuxStream): void {
    const endpoint = this.byId.get(stream.id);
    if (endpoint?.kind === 'stream' && endpoint.stream === stream) {
      this.byId.delete(stream.id);
    } else if (endpoint?.kind === 'pending' && endpoint.accepted === stream) {
      endpoint.accepted = undefined;
    } else {
      return;
    }
    this.liveStreams--;
  }

  /** Forgets splice end `id`; returns its splice, or undefined when it was not held. */
  removeSplice(id: number): Splice | undefined {
    const endpoint = this.byId.get(id);
    if (endpoint?.kind !== 'splice') return undefined;
    this.byId.delete(id);
    this.spliceEnds--;
    this.windows -= endpoint.splice.window;
    return endpoint.splice;
  }

  /** Every endpoint, in the order they were added (not to add or remove endpoints meanwhile: see takeAll). */
  values(): IterableIterator<Endpoint> {
    return this.byId.values();
  }

  /**
   * Empties the table (the session is closing) and returns the streams and splices it held, for the session to
   * tell them; pending OPENs are dropped with their bytes.
   */
  takeAll(): { streams: MuxStream[]; splices: Splice[] } {
    const streams: MuxStream[] = [];
    const splices: Splice[] = [];
    for (const endpoint of this.byId.values()) {
      if (endpoint.kind === 'stream') streams.push(endpoint.stream);
      else if (endpoint.kind === 'splice') splices.push(endpoint.splice);
      else if (endpoint.accepted) streams.push(endpoint.accepted);
    }
    this.byId.clear();
    this.pendings = 0;
    this.spliceEnds = 0;
    this.liveStreams = 0;
    this.heldBytes = 0;
    this.windows = 0;
    return { streams, splices };
  }
}
