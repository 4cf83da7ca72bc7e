/**
 * The hub's bounds on one peer (MuxSession `guard`), over in-memory links: each bound is crossed and the offender
 * gets the reset or close reason, while what stays within bounds keeps working.
 */
import { describe, expect, it } from 'vitest';
import { encodeDataFrame, encodeFrame, FrameType, ResetCode, type Frame } from './frames.js';
import { MemoryLink } from './memory-link.js';
import {
  MuxSession,
  type MuxSessionOptions,
  type OpenRequest,
  type Refusal,
  type SessionGuard,
} from './session.js';
import type { MuxStream, StreamReset } from './stream.js';

const quiet = { pingIntervalMs: 0, deadAfterMs: 0 };
const KiB = 1024;

const roomy: SessionGuard = {
  maxStreams: 1000,
  maxPendingOpens: 1000,
  maxPendingBytes: 64 * 1024 * KiB,
  maxStreamWindow: 16 * 1024 * KiB,
  unsentSlackBytes: 8 * 1024 * KiB,
  unsentWindowCapBytes: 64 * 1024 * KiB,
};

type Opts = Partial<Omit<MuxSessionOptions, 'sink' | 'role'>>;

/** An agent (client) and its hub-side session (server, guarded), manual delivery. */
function agentAndHub(guard: Partial<SessionGuard>, agentOpts: Opts = {}) {
  const link = new MemoryLink({ auto: false });
  const agent = new MuxSession({ sink: link.ab, role: 'client', label: 'agent', ...quiet, ...agentOpts });
  const hub = new MuxSession({
    sink: link.ba,
    role: 'server',
    label: 'hub',
    ...quiet,
    guard: { ...roomy, ...guard },
  });
  link.connect(agent, hub);
  const refusals: Refusal[] = [];
  hub.on('refused', (r: Refusal) => refusals.push(r));
  return { link, agent, hub, refusals };
}

async function idle(...links: MemoryLink[]): Promise<void> {
  for (let i = 0; i < 1000; i++) {
    for (const l of links) l.settle();
    await new Promise((r) => setImmediate(r));
    if (links.every((l) => l.ab.pending === 0 && l.ba.pending === 0)) return;
  }
  throw new Error('links never went idle');
}

function resets(stream: MuxStream): { reset?: StreamReset } {
  const state: { reset?: StreamReset } = {};
  stream.on('reset', (r: StreamReset) => (state.reset = r));
  return state;
}

describe('MuxSession guard (the hub bounds one peer)', () => {
  it('streams per session: the OPEN past the limit gets RST LIMIT naming it; the others stay open', async () => {
    const { link, agent, hub, refusals } = agentAndHub({ maxStreams: 3 });
    hub.on('open', () => undefined); // undecided: each stays pending, held against the limit
    const streams = [1, 2, 3, 4].map(() => agent.openStream({}));
    const states = streams.map(resets);
    await idle(link);
    expect(states.slice(0, 3).every((s) => s.reset === undefined)).toBe(true);
    expect(states[3]!.reset).toMatchObject({ code: ResetCode.LIMIT, remote: true });
    expect(states[3]!.reset!.reason).toMatch(/already holds 3 streams \(the hub's limit is 3\)/);
    expect(refusals).toHaveLength(1);
    expect(hub.closed).toBe(false);
  });

  it('pending opens: past the accept backlog an OPEN is refused at once', async () => {
    const { link, agent, hub } = agentAndHub({ maxPendingOpens: 2 });
    hub.on('open', () => undefined);
    const states = [1, 2, 3].map(() => resets(agent.openStream({})));
    await idle(link);
    expect(states[2]!.reset?.reason).toMatch(/2 OPENs of this session are still waiting/);
    expect(states[0]!.reset).toBeUndefined();
  });

  it('pending bytes: DATA held for undecided OPENs is bounded for the whole session', async () => {
    const { link, agent, hub } = agentAndHub({ maxPendingBytes: 1000 });
    hub.on('open', () => undefined);
    const first = agent.openStream({});
    const second = agent.openStream({});
    const s1 = resets(first);
    const s2 = resets(second);
    first.write(Buffer.alloc(600, 1));
    await idle(link);
    second.write(Buffer.alloc(600, 2));
    await idle(link);
    expect(s1.reset).toBeUndefined();
    expect(s2.reset).toMatchObject({ code: ResetCode.LIMIT });
    expect(s2.reset!.reason).toMatch(/more than 1000 bytes sent on streams the hub has not answered/);
    expect(hub.stats().unconsumedBytes).toBe(600);
  });

  describe('splices', () => {
    /** Opener A and server B, each with a guarded hub session; the hub splices A's streams to B. */
    function triangle(window: number, guard: Partial<SessionGuard> = {}) {
      const a = agentAndHub(guard, { initialWindow: window });
      const b = agentAndHub(guard, { initialWindow: window });
      a.hub.on('open', (req: OpenRequest) => req.splice(b.hub, req.meta));
      return {
        A: a.agent,
        hubA: a.hub,
        B: b.agent,
        hubB: b.hub,
        la: a.link,
        lb: b.link,
        refusalsA: a.refusals,
      };
    }

    it('a sender beyond the window is reset with FLOW_CONTROL at both ends, and the splice forgotten', async () => {
      const window = 64 * KiB;
      const { A, B, hubA, hubB, la, lb, refusalsA } = triangle(window);
      let bSide: { reset?: StreamReset } = {};
      B.on('open', (req: OpenRequest) => (bSide = resets(req.accept()))); // accepts, never consumes
      const s = A.openStream({});
      const aSide = resets(s);
      s.write(Buffer.alloc(window, 7)); // exactly the window: allowed
      await idle(la, lb);
      expect(hubA.stats().splices).toBe(1);
      // Now ignore credit: raw DATA past the window, as a hostile agent would send it.
      la.ab.send(encodeDataFrame(s.id, Buffer.alloc(10, 8)));
      await idle(la, lb);
      expect(aSide.reset).toMatchObject({ code: ResetCode.FLOW_CONTROL, remote: true });
      expect(aSide.reset!.reason).toBe(`sent 10 bytes beyond the stream's window of ${window}`);
      expect(bSide.reset).toMatchObject({
        code: ResetCode.FLOW_CONTROL,
        reason: 'the other side broke flow control',
      });
      expect(refusalsA).toEqual([
        { streamId: s.id, code: ResetCode.FLOW_CONTROL, reason: aSide.reset!.reason },
      ]);
      expect(hubA.stats().splices).toBe(0);
      expect(hubB.stats().splices).toBe(0);
      expect(hubA.closed || hubB.closed).toBe(false);
    });

    it("WINDOW frames relayed through the hub grow the sender's credit there too (an honest bulk transfer)", async () => {
      const window = 64 * KiB;
      const { A, B, hubA, la, lb } = triangle(window);
      let received = 0;
      B.on('open', (req: OpenRequest) => {
        const st = req.accept();
        st.on('data', (d: Buffer) => {
          received += d.length;
          st.consumed(d.length);
        });
      });
      const s = A.openStream({});
      const aSide = resets(s);
      s.write(Buffer.alloc(2 * 1024 * KiB, 1));
      await idle(la, lb);
      expect(received).toBe(2 * 1024 * KiB);
      expect(aSide.reset).toBeUndefined();
      expect(hubA.closed).toBe(false);
    });

    it("an OPEN asking for a huge window is relayed with the hub's bound", async () => {
      const { A, B, la, lb } = triangle(256 * 1024 * KiB, { maxStreamWindow: 1024 * KiB });
      let relayed = 0;
      B.on('open', (req: OpenRequest) => {
        relayed = req.accept().sendCredit;
      });
      A.openStream({});
      await idle(la, lb);
      expect(relayed).toBe(1024 * KiB);
    });

    it("the serving side at its stream limit: the opener gets RST LIMIT naming the service's session", async () => {
      const { A, B, la, lb } = triangle(64 * KiB, { maxStreams: 1 });
      B.on('open', (req: OpenRequest) => req.accept());
      const first = resets(A.openStream({}));
      await idle(la, lb);
      const second = resets(A.openStream({}));
      await idle(la, lb);
      expect(first.reset).toBeUndefined();
      // A's own session holds one stream too, so its second OPEN already crosses its own limit of 1.
      expect(second.reset).toMatchObject({ code: ResetCode.LIMIT });
    });

    it('a receiver that grants more credit than the window is reset with FLOW_CONTROL (no WINDOW storms)', async () => {
      const window = 64 * KiB;
      const { A, B, hubB, la, lb } = triangle(window);
      const refusals: Refusal[] = [];
      hubB.on('refused', (r: Refusal) => refusals.push(r));
      let bStreamId = 0;
      B.on('open', (req: OpenRequest) => (bStreamId = req.accept().id));
      const aSide = resets(A.openStream({}));
      await idle(la, lb);
      lb.ab.send(encodeFrame({ type: FrameType.WINDOW, streamId: bStreamId, increment: 1 })); // nothing consumed
      await idle(la, lb);
      expect(aSide.reset).toMatchObject({
        code: ResetCode.FLOW_CONTROL,
        reason: 'the other side broke flow control',
      });
      expect(refusals[0]?.reason).toBe(`granted 1 bytes of credit beyond the stream's window of ${window}`);
      expect(hubB.stats().splices).toBe(0);
    });

    it('streams cancelled while their bytes are still queued toward a slow receiver do not get it closed', async () => {
      const window = 64 * KiB;
      const { A, B, hubB, la, lb } = triangle(window, { unsentSlackBytes: 256 * KiB });
      B.on('open', (req: OpenRequest) => req.accept());
      const streams = [1, 2, 3, 4, 5, 6].map(() => A.openStream({}));
      for (const st of streams) st.write(Buffer.alloc(window, 5));
      // B's downlink is slow: nothing from hubB reaches it while the streams fill it and are cancelled.
      const step = () => {
        la.settle();
        lb.ab.deliver();
      };
      step();
      expect(hubB.stats().transportBuffered).toBeGreaterThan(6 * window);
      for (const st of streams) st.reset(ResetCode.CANCEL, 'user pressed Ctrl-C');
      step();
      expect(hubB.stats().splices).toBe(0);
      A.openStream({}); // a new stream right after: its OPEN must not find the session over its bound
      step();
      expect(hubB.closed).toBe(false);
      await idle(la, lb); // the link drains: the cancelled streams' windows stop counting
      expect(hubB.closed).toBe(false);
    });

    it('a receiver that grants credit but does not read is closed once its unsent bytes pass the bound', async () => {
      const window = 64 * KiB;
      const slack = 256 * KiB;
      const { A, B, hubB, la, lb } = triangle(window, { unsentSlackBytes: slack });
      const hubBCloses: string[] = [];
      hubB.on('close', (reason: string) => hubBCloses.push(reason));
      let bStreamId = 0;
      B.on('open', (req: OpenRequest) => (bStreamId = req.accept().id));
      const s = A.openStream({});
      const aSide = resets(s);
      s.write(Buffer.alloc(4 * 1024 * KiB, 3));
      // Deliver everything except hub → B (B stops reading), while B keeps granting credit it has not earned.
      const step = () => {
        la.settle();
        lb.ab.deliver();
      };
      step();
      lb.ba.deliver(); // B sees the OPEN
      for (let i = 0; i < 100 && !hubB.closed; i++) {
        lb.ab.send(encodeFrame({ type: FrameType.WINDOW, streamId: bStreamId, increment: window }));
        step();
        await new Promise((r) => setImmediate(r));
      }
      expect(hubB.closed).toBe(true);
      expect(hubBCloses[0]).toMatch(/the agent is not reading: \d+ bytes unsent at the hub \(limit \d+\)/);
      expect(lb.ba.closes.at(-1)?.code).toBe(1008);
      const goaway = lb.ba.closes.length > 0;
      expect(goaway).toBe(true);
      la.settle();
      expect(aSide.reset).toMatchObject({ code: ResetCode.SESSION_CLOSED });
    });
  });

  it('a GOAWAY with code LIMIT reaches the agent before the close when the hub ends the session', async () => {
    const { link, agent, hub } = agentAndHub({});
    const seen: Frame['type'][] = [];
    agent.on('goaway', (g: { code: number; reason: string }) => seen.push(g.code));
    hub.goAway(ResetCode.LIMIT, 'more than 50 control messages per second');
    await idle(link);
    expect(seen).toEqual([ResetCode.LIMIT]);
    expect(agent.closed).toBe(true);
  });
});
