import { describe, expect, it } from 'vitest';
import { EndpointTable, type PendingOpen } from './endpoint-table.js';
import type { Splice } from './splice.js';
import type { MuxStream } from './stream.js';

// The table only keeps them: an id (streams) and a window (splices) is all it reads.
const stream = (id: number): MuxStream => ({ id }) as MuxStream;
const splice = (window: number): Splice => ({ window }) as Splice;
const open = (): PendingOpen => ({ window: 100, frames: [], dataBytes: 0 });

function counts(t: EndpointTable) {
  return {
    size: t.size,
    streams: t.streamCount,
    splices: t.spliceCount,
    pending: t.pendingCount,
    pendingBytes: t.pendingBytes,
    spliceWindows: t.spliceWindows,
  };
}

describe('EndpointTable', () => {
  it('finds each kind by id and counts them for the limits', () => {
    const t = new EndpointTable();
    const s = stream(1);
    t.addStream(s);
    t.addSplice(2, splice(64));
    t.addSplice(4, splice(32));
    const p = open();
    t.addPending(3, p);
    t.holdBytes(p, 10);
    expect(t.get(1)).toEqual({ kind: 'stream', stream: s });
    expect(t.get(2)?.kind).toBe('splice');
    expect(t.get(3)).toMatchObject({ kind: 'pending', open: p, accepted: undefined });
    expect(t.get(5)).toBeUndefined();
    expect(counts(t)).toEqual({
      size: 4,
      streams: 1,
      splices: 2,
      pending: 1,
      pendingBytes: 10,
      spliceWindows: 96,
    });
    expect(t.removeSplice(2)?.window).toBe(64);
    expect(t.removeSplice(2)).toBeUndefined();
    t.removeStream(stream(1)); // another stream of the same id: not ours to remove
    expect(t.get(1)).toBeDefined();
    t.removeStream(s);
    expect(counts(t)).toMatchObject({ size: 2, streams: 0, splices: 1, spliceWindows: 32 });
  });

  it('keeps an accepted OPEN pending until its frames are replayed, then holds it as a stream', () => {
    const t = new EndpointTable();
    const p = open();
    t.addPending(3, p);
    t.holdBytes(p, 40);
    const s = stream(3);
    t.acceptPending(3, s);
    expect(t.get(3)).toMatchObject({ kind: 'pending', accepted: s });
    expect(counts(t)).toMatchObject({ size: 1, streams: 1, pending: 1, pendingBytes: 40 });
    expect(t.dropPending(3, open())).toBeUndefined(); // not this OPEN
    expect(t.dropPending(3, p)).toBe(p);
    expect(t.get(3)).toEqual({ kind: 'stream', stream: s });
    expect(counts(t)).toMatchObject({ size: 1, streams: 1, pending: 0, pendingBytes: 0 });
  });

  it('forgets an accepted stream that closed during its replay, and the OPEN with its bytes after', () => {
    const t = new EndpointTable();
    const p = open();
    t.addPending(3, p);
    const s = stream(3);
    t.acceptPending(3, s);
    t.removeStream(s);
    expect(counts(t)).toMatchObject({ size: 1, streams: 0, pending: 1 });
    t.dropPending(3);
    expect(t.get(3)).toBeUndefined();
    expect(t.size).toBe(0);
  });

  it('takeAll empties the table and hands back its streams (accepted ones too) and splices', () => {
    const t = new EndpointTable();
    const a = stream(1);
    const b = stream(3);
    const sp = splice(8);
    t.addStream(a);
    t.addPending(3, open());
    t.acceptPending(3, b);
    t.addPending(5, open());
    t.addSplice(2, sp);
    expect(t.takeAll()).toEqual({ streams: [a, b], splices: [sp] });
    expect(counts(t)).toEqual({
      size: 0,
      streams: 0,
      splices: 0,
      pending: 0,
      pendingBytes: 0,
      spliceWindows: 0,
    });
  });
});
