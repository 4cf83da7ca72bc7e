/**
 * Wire fuzzer: random and mutated frames fed to a real hub (a child process of the built CLI) by raw peers
 * (test/helpers/raw-peer.ts), with checks that the hub never exits, that /health answers between batches, that
 * its memory comes back after the peers leave, and that a well-behaved stream still works through it at the end.
 *
 *   npx vitest run test/fuzz.test.ts                 the short run (FUZZ_FRAMES=50000), part of `npm test`
 *   npm run fuzz                                     the long run (1,000,000 frames)
 *   FUZZ_SEED=1234 FUZZ_FRAMES=200000 npx vitest run test/fuzz.test.ts      replay a seed, any size
 *
 * Environment: FUZZ_FRAMES (frames to feed), FUZZ_SEED (u32; random and printed when absent), FUZZ_PEERS
 * (concurrent fuzzing sessions, default 3), FUZZ_DEADLINE_S (stop feeding after this; default 40 s for the short
 * run, 900 s for a long one), FUZZ_RSS_BOUND_MB (allowed growth of the hub's RSS, default 60),
 * FUZZ_HEAP_BOUND_MB (allowed growth of its JS heap, from /metrics, default 20), FUZZ_MINIMIZE_S (time for
 * minimizing crashes found, default 25 s short, 120 s long), FUZZ_HUB_NODE_OPTIONS (NODE_OPTIONS of the hub,
 * default `--max-semi-space-size=2 --expose-gc`: as under `npm start`, the hub then collects when idle),
 * FUZZ_HUB_MALLOC_MMAP_THRESHOLD (glibc's, for the hub: default 131072, '' for glibc's own; see HUB_ENV). Reaching
 * the deadline before FUZZ_FRAMES is a failure. Traffic goes to 127.0.0.1 only.
 *
 * How frames are fed. Each peer sends batches: a body of frames the hub must accept without ending the session
 * (well-formed, adversarial: every frame type, both id parities, windows up to 0xffffffff, OPENs of the exposed
 * service, unknown ones, huge metadata, WINDOW storms, RST/FIN to streams never opened, CONTROL with random
 * ops and fields, PING/PONG, fragmented messages, WebSocket pings, mutations that still decode), then a
 * protocol PING whose PONG proves the hub processed the body, then often one session-ending frame (a mutation
 * that no longer decodes, GOAWAY, an OPEN of the wrong parity, broken WebSocket framing, a socket dropped mid
 * frame), after which the peer reconnects. Whether a frame ends the session is decided locally with the real
 * decodeFrame and the session's OPEN rules, so only frames the hub confirmed are counted as fed.
 *
 * A hub crash is recorded with the batches in flight, the hub is restarted, and feeding goes on; at the end every
 * crash is minimized (replayed in halves against fresh hubs) and printed as the smallest input that still kills
 * the hub. Inputs found that way are kept in KNOWN_CRASHERS and replayed first on every run.
 */
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  FrameType,
  HEADER_SIZE,
  MAX_FRAME_PAYLOAD,
  decodeFrame,
  type Frame,
} from '../src/protocol/frames.js';
import { WsOpcode } from '../src/protocol/ws-codec.js';
import { cleanupAll, sleep, startTestHub, type TestHub } from './helpers/harness.js';
import { RawPeer, health, hubRss, registerAgent } from './helpers/raw-peer.js';

// ---------------------------------------------------------------------------------------------------------------
// Seeded PRNG (sfc32): the frames of a run follow from its seed.

export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(seed: number) {
    this.a = 0x9e3779b9;
    this.b = 0x243f6a88;
    this.c = 0xb7e15162;
    this.d = seed >>> 0;
    for (let i = 0; i < 16; i++) this.u32();
  }

  u32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }

  /** [0, n) */
  int(n: number): number {
    return n <= 0x1_0000_0000 ? Math.floor((this.u32() / 0x1_0000_0000) * n) : this.u32();
  }

  /** [lo, hi] */
  range(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }

  chance(p: number): boolean {
    return this.u32() / 0x1_0000_0000 < p;
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }

  /** A length skewed toward small values: mostly up to `small`, sometimes up to `max`. */
  size(small: number, max: number): number {
    const r = this.u32() / 0x1_0000_0000;
    if (r < 0.85) return this.range(0, small);
    if (r < 0.995) return this.range(0, Math.min(max, small * 64));
    return this.range(0, max);
  }

  bytes(n: number): Buffer {
    const buf = Buffer.allocUnsafe(n);
    let i = 0;
    for (; i + 4 <= n; i += 4) buf.writeUInt32LE(this.u32(), i);
    for (; i < n; i++) buf[i] = this.u32() & 0xff;
    return buf;
  }

  weighted<T>(table: readonly (readonly [number, T])[]): T {
    let total = 0;
    for (const [w] of table) total += w;
    let r = this.int(total);
    for (const [w, v] of table) {
      if (r < w) return v;
      r -= w;
    }
    return table[table.length - 1]![1];
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Frames and WebSocket messages, built by hand (no validation: anything can be produced).

/** [type][flags][id u32][payload] */
export function rawFrame(type: number, flags: number, id: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const buf = Buffer.allocUnsafe(HEADER_SIZE + payload.length);
  buf[0] = type & 0xff;
  buf[1] = flags & 0xff;
  buf.writeUInt32BE(id >>> 0, 2);
  payload.copy(buf, HEADER_SIZE);
  return buf;
}

const u32be = (n: number): Buffer => {
  const b = Buffer.allocUnsafe(4);
  b.writeUInt32BE(n >>> 0);
  return b;
};
const u16be = (n: number): Buffer => {
  const b = Buffer.allocUnsafe(2);
  b.writeUInt16BE(n & 0xffff);
  return b;
};

/**
 * One WebSocket frame as a client sends it: masked with `key` (4 bytes; zero as our agents use, or random), or
 * unmasked when key is undefined. `lengthOverride` declares a length other than the payload's.
 */
export function wsFrame(
  opcode: number,
  payload: Buffer,
  opts: { fin?: boolean; key?: Buffer | undefined; rsv?: number; lengthOverride?: number } = {},
): Buffer {
  const length = opts.lengthOverride ?? payload.length;
  const key = 'key' in opts ? opts.key : Buffer.alloc(4);
  const ext = length < 126 ? 0 : length < 0x1_0000 ? 2 : 8;
  const headerSize = 2 + ext + (key ? 4 : 0);
  const buf = Buffer.allocUnsafe(headerSize + payload.length);
  buf[0] = ((opts.fin ?? true) ? 0x80 : 0) | ((opts.rsv ?? 0) << 4) | (opcode & 0x0f);
  const maskBit = key ? 0x80 : 0;
  if (ext === 0) buf[1] = maskBit | length;
  else if (ext === 2) {
    buf[1] = maskBit | 126;
    buf.writeUInt16BE(length, 2);
  } else {
    buf[1] = maskBit | 127;
    buf.writeUInt32BE(Math.floor(length / 0x1_0000_0000), 2);
    buf.writeUInt32BE(length >>> 0, 6);
  }
  if (key) {
    key.copy(buf, 2 + ext);
    const at = headerSize;
    if (key.readUInt32BE(0) === 0) payload.copy(buf, at);
    else for (let i = 0; i < payload.length; i++) buf[at + i] = payload[i]! ^ key[i & 3]!;
  } else {
    payload.copy(buf, headerSize);
  }
  return buf;
}

// ---------------------------------------------------------------------------------------------------------------
// Items and batches

export type EndKind =
  /** The hub must end the session (protocol error, GOAWAY, close frame). */
  | 'fatal'
  /** The hub may or may not end the session (a policy limit): a second PING tells. */
  | 'maybe'
  /** We drop the socket ourselves after writing it (mid-frame, mid-message). */
  | 'abort';

export interface Item {
  kind: string;
  /** Bytes for the socket: one or more WebSocket frames, or broken framing. */
  bytes: Buffer;
  /** The protocol frame inside, when there is one (for reports). */
  frame?: Buffer;
  end?: EndKind;
  /** Why it ends the session. */
  reason?: string;
}

interface SessionState {
  /** Highest stream id this session OPENed (the hub wants them odd and increasing). */
  lastOpen: number;
  /** Ids this session opened, most recent last. */
  opened: number[];
  /** CONTROL frames sent in this session (the hub limits their rate: a burst of 200, then 50 a second). */
  controls: number;
}

const newSessionState = (): SessionState => ({ lastOpen: 0, opened: [], controls: 0 });

/** CONTROL frames a session sends in its bodies, under the hub's burst; floods come as session-ending items. */
const CONTROL_BUDGET = 150;

/** Decides what the hub does with a frame, with the same rules: decodeFrame, then the session's OPEN checks. */
export function classify(
  buf: Buffer,
  st: SessionState | undefined,
): { fatal: false } | { fatal: true; reason: string } {
  let frame: Frame;
  try {
    frame = decodeFrame(buf);
  } catch (err) {
    return { fatal: true, reason: (err as Error).message.slice(0, 120) };
  }
  if (frame.type === FrameType.GOAWAY) return { fatal: true, reason: 'GOAWAY' };
  if (frame.type === FrameType.OPEN) {
    const last = st?.lastOpen ?? 0;
    if (frame.streamId % 2 === 0) return { fatal: true, reason: 'OPEN with an even (hub) id' };
    if (frame.streamId <= last) return { fatal: true, reason: 'OPEN id not increasing' };
    if (st) {
      st.lastOpen = frame.streamId;
      st.opened.push(frame.streamId);
      if (st.opened.length > 64) st.opened.shift();
    }
  }
  return { fatal: false };
}

// ---------------------------------------------------------------------------------------------------------------
// Generation

const INTERESTING_U32 = [
  1, 2, 3, 0x7f, 0x80, 0xff, 0x100, 0x7fff, 0x8000, 0xffff, 0x1_0000, 0x7fff_ffff, 0x8000_0000, 0xffff_fffe,
  0xffff_ffff,
];
const INTERESTING_U16 = [
  0, 1, 2, 5, 6, 8, 999, 1000, 1002, 1005, 1006, 1015, 3000, 4999, 5000, 0x7fff, 0xffff,
];
const CONTROL_OPS = [
  'expose',
  'unexpose',
  'welcome',
  'result',
  'ping',
  'stats',
  'EXPOSE',
  '',
  '__proto__',
  'constructor',
];
const NAME_POOL = ['fz-0', 'fz-1', 'fz-2', 'fz-3', 'Fz-4', 'fuzz-svc', 'echo-svc', 'nope'];
const BAD_UTF8 = [
  [0xc0, 0x80],
  [0xed, 0xa0, 0x80],
  [0xff],
  [0xfe, 0xff],
  [0xe2, 0x82],
  [0xf4, 0x90, 0x80, 0x80],
  [0x80],
].map((b) => Buffer.from(b));

/** `{"a":{"a":…1…}}` nested n deep (balanced, or one brace short). */
function nested(n: number, balanced: boolean): string {
  return '{"a":'.repeat(n) + '1' + '}'.repeat(balanced ? n : n - 1);
}

export class FrameGen {
  constructor(
    private readonly rng: Rng,
    /** The service a raw exposer answers for. */
    private readonly service: string,
  ) {}

  // --- values

  u32(): number {
    const r = this.rng;
    return r.chance(0.3) ? r.pick(INTERESTING_U32) : r.chance(0.5) ? r.range(1, 1 << 20) : r.u32();
  }

  nonZeroU32(): number {
    return this.u32() || 1;
  }

  streamId(st: SessionState): number {
    const r = this.rng;
    const pick = r.int(10);
    if (pick < 4 && st.opened.length > 0) return r.pick(st.opened);
    if (pick < 6) return r.range(1, 64);
    if (pick < 7) return r.range(1, 32) * 2; // hub-side (even) ids
    if (pick < 8) return st.lastOpen + r.range(1, 8);
    return this.nonZeroU32();
  }

  text(max: number): string {
    const r = this.rng;
    const n = r.size(Math.min(16, max), max);
    switch (r.int(6)) {
      case 0:
        return 'a'.repeat(n);
      case 1:
        return r
          .bytes(Math.ceil(n / 2))
          .toString('hex')
          .slice(0, n);
      case 2: {
        let s = '';
        for (let i = 0; i < Math.min(n, 64); i++)
          s += String.fromCodePoint(r.pick([0x41, 0xe9, 0x4e2d, 0x1f600, 0x0, 0x7f, 0xfeff, 0x202e]));
        return s;
      }
      case 3:
        return r.pick(NAME_POOL);
      case 4:
        return r.pick([
          '',
          ' ',
          '..',
          '../etc',
          '%00',
          '\n',
          '<script>',
          'fuzz-svc\u0000',
          'FUZZ-SVC',
          this.service,
        ]);
      default:
        return String.fromCharCode(...Array.from({ length: Math.min(n, 32) }, () => r.range(0x20, 0x7e)));
    }
  }

  json(depth: number): unknown {
    const r = this.rng;
    const k = r.int(depth > 0 ? 9 : 6);
    switch (k) {
      case 0:
        return null;
      case 1:
        return r.chance(0.5);
      case 2:
        return r.pick([0, -0, 1, -1, 1.5, 1e308, -1e308, 2 ** 53, 2 ** 53 + 2, 0xffffffff, Number.MIN_VALUE]);
      case 3:
        return r.int(100_000);
      case 4:
      case 5:
        return this.text(256);
      case 6:
        return Array.from({ length: r.int(4) }, () => this.json(depth - 1));
      default: {
        const o: Record<string, unknown> = {};
        for (let i = r.int(5); i > 0; i--)
          o[r.pick(['service', 'op', 'rid', 'name', '__proto__', 'constructor', 'x', this.text(8)])] =
            this.json(depth - 1);
        return o;
      }
    }
  }

  /** A huge string field (up to ~1 MB: the payload limit is 1 MiB, so some cross it). */
  huge(): string {
    const r = this.rng;
    const n = r.pick([300, 4096, 65_536, 500_000, MAX_FRAME_PAYLOAD - 40, MAX_FRAME_PAYLOAD + 10]);
    return r.chance(0.5) ? 'x'.repeat(n) : 'é'.repeat(Math.floor(n / 2));
  }

  openMeta(): Record<string, unknown> {
    const r = this.rng;
    switch (r.int(10)) {
      case 0:
      case 1:
      case 2:
        return { service: this.service };
      case 3:
        return { service: this.service.toUpperCase(), extra: this.json(2) };
      case 4:
        return { service: this.text(80) };
      case 5:
        return { service: this.json(1) };
      case 6:
        return {};
      case 7:
        return r.chance(0.05) ? { service: this.huge() } : { service: r.pick(NAME_POOL) };
      case 8:
        return r.chance(0.05)
          ? { service: this.service, pad: this.huge() }
          : { service: this.service, from: this.text(40) };
      default:
        return this.json(3) as Record<string, unknown>;
    }
  }

  controlMsg(): Record<string, unknown> {
    const r = this.rng;
    const msg: Record<string, unknown> = {};
    if (r.chance(0.9)) msg.op = r.chance(0.8) ? r.pick(CONTROL_OPS) : this.json(1);
    if (r.chance(0.85)) {
      msg.rid = r.weighted<unknown>([
        [6, r.int(1_000_000)],
        [1, 1.5],
        [1, -1],
        [1, 'rid'],
        [1, null],
        [1, { nested: [1, 2] }],
        [1, 2 ** 60],
        [1, this.text(64)],
      ]);
    }
    if (r.chance(0.7))
      msg.name = r.chance(0.02) ? this.huge() : r.chance(0.5) ? r.pick(NAME_POOL) : this.text(80);
    if (r.chance(0.5))
      msg.targetHost = r.pick(['127.0.0.1', 'localhost', '', '::1', '10.0.0.1', this.text(300)]);
    if (r.chance(0.5))
      msg.targetPort = r.pick<unknown>([9, 0, 1, 65535, 65536, -1, 1.5, '80', null, this.u32()]);
    if (r.chance(0.2)) msg.protocol = r.pick<unknown>(['tcp', 'http', 'https', 'udp', 3, null]);
    if (r.chance(0.2)) msg.remove = r.pick<unknown>([true, false, 'yes', 1]);
    if (r.chance(0.1)) msg[this.text(12)] = this.json(2);
    return msg;
  }

  // --- well-formed frames (what the peer means to send; classify() decides what the hub will make of it)

  wellFormed(st: SessionState): { kind: string; frame: Buffer } {
    const r = this.rng;
    const type = r.weighted<FrameType>([
      [26, FrameType.DATA],
      [12, FrameType.WINDOW],
      [16, FrameType.OPEN],
      [4, FrameType.ACCEPT],
      [6, FrameType.FIN],
      [7, FrameType.RST],
      [5, FrameType.PING],
      [3, FrameType.PONG],
      [7, FrameType.CONTROL],
    ]);
    const name = FrameType[type];
    switch (type) {
      case FrameType.DATA: {
        const n = r.chance(0.001) ? r.range(65_536, MAX_FRAME_PAYLOAD) : r.size(48, 65_536) || 1;
        return { kind: name, frame: rawFrame(type, 0, this.streamId(st), r.bytes(n)) };
      }
      case FrameType.WINDOW:
        return { kind: name, frame: rawFrame(type, 0, this.streamId(st), u32be(this.nonZeroU32())) };
      case FrameType.OPEN: {
        const id = r.chance(0.97)
          ? st.lastOpen + 2 * r.range(1, 3) - (st.lastOpen % 2 === 0 ? 1 : 0)
          : (this.u32() | 1) >>> 0;
        const meta = Buffer.from(JSON.stringify(this.openMeta()) ?? '{}', 'utf8');
        return { kind: name, frame: rawFrame(type, 0, id, Buffer.concat([u32be(this.nonZeroU32()), meta])) };
      }
      case FrameType.ACCEPT:
      case FrameType.FIN:
        return { kind: name, frame: rawFrame(type, 0, this.streamId(st)) };
      case FrameType.RST: {
        const reason = Buffer.from(r.chance(0.01) ? this.huge().slice(0, 70_000) : this.text(200), 'utf8');
        const code = r.chance(0.5) ? r.pick(INTERESTING_U16) : r.int(0x1_0000);
        return {
          kind: name,
          frame: rawFrame(type, 0, this.streamId(st), Buffer.concat([u16be(code), reason])),
        };
      }
      case FrameType.PING:
      case FrameType.PONG:
        return { kind: name, frame: rawFrame(type, 0, 0, r.bytes(8)) };
      default: {
        const text = JSON.stringify(this.controlMsg());
        return { kind: 'CONTROL', frame: rawFrame(type, 0, 0, Buffer.from(text, 'utf8')) };
      }
    }
  }

  /** A frame near the 1 MiB payload limit (or just over it): huge CONTROL fields, metadata, reasons, DATA. */
  hugeFrame(st: SessionState): Buffer {
    const r = this.rng;
    const fill = (room: number): string =>
      (r.chance(0.7) ? 'n' : 'é').repeat(Math.max(0, r.chance(0.8) ? room : room / 2));
    const limit = MAX_FRAME_PAYLOAD + (r.chance(0.1) ? r.range(1, 64) : 0);
    switch (r.int(5)) {
      case 0:
      case 1: {
        const head = { op: r.pick(CONTROL_OPS), rid: r.int(1000) };
        const field = r.pick(['name', 'op', 'targetHost', 'protocol', 'junk']);
        const text = JSON.stringify({ ...head, [field]: '' });
        const room = limit - Buffer.byteLength(text) - 32;
        const body = JSON.stringify({ ...head, [field]: fill(room) });
        return rawFrame(FrameType.CONTROL, 0, 0, Buffer.from(body));
      }
      case 2: {
        const id = st.lastOpen + 2 - (st.lastOpen % 2 === 0 ? 1 : 0);
        const key = r.pick(['service', 'pad']);
        const meta = JSON.stringify({
          service: key === 'service' ? fill(limit - 40) : this.service,
          ...(key === 'pad' && { pad: fill(limit - 60) }),
        });
        return rawFrame(FrameType.OPEN, 0, id, Buffer.concat([u32be(this.nonZeroU32()), Buffer.from(meta)]));
      }
      case 3:
        return rawFrame(
          FrameType.RST,
          0,
          this.streamId(st),
          Buffer.concat([u16be(r.int(9)), Buffer.from(fill(limit - 10))]),
        );
      default:
        return rawFrame(FrameType.DATA, 0, this.streamId(st), Buffer.alloc(limit - r.int(4), 0x61));
    }
  }

  /** A session-ending frame that is well formed: GOAWAY, or an OPEN the session must refuse. */
  sessionEnder(st: SessionState): { kind: string; frame: Buffer } {
    const r = this.rng;
    switch (r.int(3)) {
      case 0:
        return {
          kind: 'GOAWAY',
          frame: rawFrame(
            FrameType.GOAWAY,
            0,
            0,
            Buffer.concat([u16be(r.int(0x1_0000)), Buffer.from(this.text(100))]),
          ),
        };
      case 1:
        return {
          kind: 'OPEN-even',
          frame: rawFrame(
            FrameType.OPEN,
            0,
            r.range(1, 1000) * 2,
            Buffer.concat([u32be(1), Buffer.from('{"service":"fuzz-svc"}')]),
          ),
        };
      default:
        return {
          kind: 'OPEN-reused',
          frame: rawFrame(
            FrameType.OPEN,
            0,
            st.lastOpen > 0 ? st.lastOpen : 1,
            Buffer.concat([u32be(1), Buffer.from('{}')]),
          ),
        };
    }
  }

  // --- mutations of valid frames

  mutate(frame: Buffer): { kind: string; frame: Buffer } {
    const r = this.rng;
    const b = Buffer.from(frame);
    const op = r.int(12);
    switch (op) {
      case 0: {
        const flips = r.range(1, 4);
        for (let i = 0; i < flips; i++) {
          const at = r.int(b.length);
          b[at]! ^= 1 << r.int(8);
        }
        return { kind: 'mut:bitflip', frame: b };
      }
      case 1: {
        b[r.int(b.length)] = r.pick([0, 0xff, 0x7f, 0x80, 0x01]);
        return { kind: 'mut:byte', frame: b };
      }
      case 2:
        return { kind: 'mut:truncate', frame: b.subarray(0, r.int(b.length)) };
      case 3:
        return { kind: 'mut:extend', frame: Buffer.concat([b, r.bytes(r.range(1, 64))]) };
      case 4:
        b[0] = r.range(0, 255) & (r.chance(0.7) ? 0x0f : 0xff);
        return { kind: 'mut:type', frame: b };
      case 5:
        b[1] = r.range(1, 255);
        return { kind: 'mut:flags', frame: b };
      case 6:
        b.writeUInt32BE(r.pick([0, 1, 2, 0xffffffff, r.u32()]), 2);
        return { kind: 'mut:streamid', frame: b };
      case 7: {
        const at = HEADER_SIZE + r.int(Math.max(1, b.length - HEADER_SIZE));
        const bad = r.pick(BAD_UTF8);
        return { kind: 'mut:utf8', frame: Buffer.concat([b.subarray(0, at), bad, b.subarray(at)]) };
      }
      case 8: {
        const body = r.pick([
          '[]',
          'null',
          '"str"',
          '{',
          '{"a":1}x',
          '1',
          '{"service":"fuzz-svc"',
          '\uFEFF{}',
          '{"__proto__":{"polluted":true},"service":"fuzz-svc"}',
          '{"a":"\\ud800"}',
          ' {} ',
          '['.repeat(r.pick([10, 1000, 100_000])),
          nested(r.pick([10, 1000, 50_000]), r.chance(0.8)),
        ]);
        const type = r.pick([FrameType.CONTROL, FrameType.OPEN]);
        const payload =
          type === FrameType.OPEN ? Buffer.concat([u32be(1 << 16), Buffer.from(body)]) : Buffer.from(body);
        return {
          kind: 'mut:json',
          frame: rawFrame(type, 0, type === FrameType.OPEN ? r.range(1, 1 << 20) | 1 : 0, payload),
        };
      }
      case 9: {
        // Payload length the type does not allow (PING of 7 or 9 bytes, WINDOW of 3 or 5, ACCEPT with a body).
        const type = r.pick([
          FrameType.PING,
          FrameType.PONG,
          FrameType.WINDOW,
          FrameType.ACCEPT,
          FrameType.FIN,
          FrameType.RST,
          FrameType.GOAWAY,
        ]);
        const id = type >= FrameType.PING ? 0 : r.range(1, 99);
        return { kind: 'mut:length', frame: rawFrame(type, 0, id, r.bytes(r.pick([0, 1, 3, 5, 7, 9, 16]))) };
      }
      case 10:
        // Zero where the protocol forbids it: WINDOW increment 0, OPEN window 0, empty DATA.
        return r.pick([
          { kind: 'mut:zero-window', frame: rawFrame(FrameType.WINDOW, 0, r.range(1, 99), u32be(0)) },
          {
            kind: 'mut:zero-open',
            frame: rawFrame(FrameType.OPEN, 0, 0x7fff_ffff, Buffer.concat([u32be(0), Buffer.from('{}')])),
          },
          { kind: 'mut:empty-data', frame: rawFrame(FrameType.DATA, 0, r.range(1, 99)) },
        ]);
      default:
        return { kind: 'mut:short', frame: b.subarray(0, r.int(HEADER_SIZE)) };
    }
  }

  // --- WebSocket level

  maskKey(): Buffer {
    return this.rng.chance(0.3) ? Buffer.alloc(4) : this.rng.bytes(4);
  }

  message(frame: Buffer): Buffer {
    return wsFrame(WsOpcode.BINARY, frame, { key: this.maskKey() });
  }

  /** A frame split into fragments, sometimes with WebSocket pings between them. */
  fragmented(frame: Buffer): Buffer {
    const r = this.rng;
    // Under the hub's 1024 fragments per message (what crosses it is a session-ending item of its own).
    const min = Math.ceil(frame.length / 900);
    const size = r.range(min, Math.max(min, Math.ceil(frame.length / r.range(1, 8))));
    const pieces: Buffer[] = [];
    for (let at = 0; at < frame.length; at += size) {
      const last = at + size >= frame.length;
      pieces.push(
        wsFrame(at === 0 ? WsOpcode.BINARY : WsOpcode.CONTINUATION, frame.subarray(at, at + size), {
          fin: last,
          key: this.maskKey(),
        }),
      );
      if (!last && r.chance(0.2))
        pieces.push(wsFrame(WsOpcode.PING, r.bytes(r.int(126)), { key: this.maskKey() }));
      if (!last && r.chance(0.1))
        pieces.push(wsFrame(WsOpcode.CONTINUATION, Buffer.alloc(0), { fin: false, key: this.maskKey() }));
    }
    return Buffer.concat(pieces);
  }

  /** Broken WebSocket framing: always ends the session (or we drop the socket ourselves). */
  wsAttack(): Item {
    const r = this.rng;
    const ping = rawFrame(FrameType.PING, 0, 0, r.bytes(8));
    const key = this.maskKey();
    const table: (() => Item)[] = [
      () => ({
        kind: 'ws:text',
        bytes: wsFrame(WsOpcode.TEXT, Buffer.from('{"op":"expose"}'), { key }),
        end: 'fatal',
      }),
      () => ({
        kind: 'ws:rsv',
        bytes: wsFrame(WsOpcode.BINARY, ping, { key, rsv: r.range(1, 7) }),
        end: 'fatal',
      }),
      () => ({
        kind: 'ws:unmasked',
        bytes: wsFrame(WsOpcode.BINARY, ping, { key: undefined }),
        end: 'fatal',
      }),
      () => ({
        kind: 'ws:opcode',
        bytes: wsFrame(r.pick([3, 4, 5, 6, 7, 0xb, 0xc, 0xd, 0xe, 0xf]), ping, { key }),
        end: 'fatal',
      }),
      () => ({
        kind: 'ws:fragmented-ping',
        bytes: wsFrame(WsOpcode.PING, Buffer.from('hi'), { key, fin: false }),
        end: 'fatal',
      }),
      () => ({
        kind: 'ws:big-control',
        bytes: wsFrame(WsOpcode.PING, r.bytes(r.range(126, 300)), { key }),
        end: 'fatal',
      }),
      () => ({
        kind: 'ws:lone-continuation',
        bytes: wsFrame(WsOpcode.CONTINUATION, ping, { key }),
        end: 'fatal',
      }),
      () => ({
        kind: 'ws:binary-in-fragmented',
        bytes: Buffer.concat([
          wsFrame(WsOpcode.BINARY, ping.subarray(0, 3), { key, fin: false }),
          wsFrame(WsOpcode.BINARY, ping, { key }),
        ]),
        end: 'fatal',
      }),
      () => ({
        kind: 'ws:length-64bit',
        bytes: wsFrame(WsOpcode.BINARY, Buffer.alloc(0), {
          key,
          lengthOverride: r.pick([2 ** 53 - 1, 2 ** 40, 0x20_0000_0000]),
        }),
        end: 'fatal',
      }),
      () => ({
        kind: 'ws:too-big',
        bytes: wsFrame(WsOpcode.BINARY, Buffer.alloc(0), {
          key,
          lengthOverride: MAX_FRAME_PAYLOAD + HEADER_SIZE + r.range(1, 1 << 20),
        }),
        end: 'fatal',
      }),
      () => ({
        kind: 'ws:too-big-fragments',
        bytes: Buffer.concat([
          wsFrame(WsOpcode.BINARY, Buffer.alloc(700_000, 1), { key, fin: false }),
          wsFrame(WsOpcode.CONTINUATION, Buffer.alloc(700_000, 1), { key }),
        ]),
        end: 'fatal',
      }),
      () => ({
        kind: 'ws:close-1-byte',
        bytes: wsFrame(WsOpcode.CLOSE, Buffer.from([3]), { key }),
        end: 'fatal',
      }),
      () => ({
        kind: 'ws:close',
        bytes: wsFrame(
          WsOpcode.CLOSE,
          Buffer.concat([
            u16be(r.pick(INTERESTING_U16)),
            r.chance(0.3) ? r.pick(BAD_UTF8) : Buffer.from(this.text(100).slice(0, 100)),
          ]).subarray(0, 125),
          { key },
        ),
        end: 'fatal',
      }),
      () => ({
        kind: 'ws:close-empty',
        bytes: wsFrame(WsOpcode.CLOSE, Buffer.alloc(0), { key }),
        end: 'fatal',
      }),
      () => {
        const whole = wsFrame(WsOpcode.BINARY, rawFrame(FrameType.DATA, 0, 1, r.bytes(r.range(1, 5000))), {
          key,
        });
        return {
          kind: 'ws:cut-mid-frame',
          bytes: whole.subarray(0, r.range(1, whole.length - 1)),
          end: 'abort',
        };
      },
      () => ({
        kind: 'ws:cut-mid-message',
        bytes: wsFrame(WsOpcode.BINARY, ping.subarray(0, 4), { key, fin: false }),
        end: 'abort',
      }),
      () => {
        // More CONTROL messages than the hub's rate limit lets through (it may close the session).
        const n = r.range(200, 600);
        const parts: Buffer[] = [];
        for (let i = 0; i < n; i++) {
          const msg = Buffer.from(JSON.stringify({ op: r.pick(CONTROL_OPS), rid: i }));
          parts.push(wsFrame(WsOpcode.BINARY, rawFrame(FrameType.CONTROL, 0, 0, msg), { key }));
        }
        return { kind: 'ws:control-flood', bytes: Buffer.concat(parts), end: 'maybe' };
      },
      () => ({ kind: 'ws:garbage', bytes: r.bytes(r.range(1, 512)), end: 'maybe' }),
      () => ({
        kind: 'ws:http-again',
        bytes: Buffer.from('GET /v1/connect HTTP/1.1\r\nHost: x\r\n\r\n'),
        end: 'fatal',
      }),
      () => {
        // Many tiny fragments of one valid frame (a policy limit: the hub may refuse past 1024).
        const n = r.pick([200, 1000, 1100, 5000]);
        const parts = [wsFrame(WsOpcode.BINARY, ping.subarray(0, 1), { key, fin: false })];
        for (let i = 0; i < n; i++)
          parts.push(wsFrame(WsOpcode.CONTINUATION, Buffer.alloc(0), { key, fin: false }));
        parts.push(wsFrame(WsOpcode.CONTINUATION, ping.subarray(1), { key }));
        return { kind: `ws:fragments-${n}`, bytes: Buffer.concat(parts), end: 'maybe' };
      },
    ];
    return r.pick(table)();
  }

  /** A batch body item: never meant to end the session (unless a mutation turned out fatal: then it ends the batch). */
  bodyItem(st: SessionState): Item[] {
    const r = this.rng;
    const what = r.weighted<string>([
      [4000, 'frame'],
      [400, 'mutation'],
      [150, 'fragmented'],
      [100, 'ws-ping'],
      [3, 'huge'],
      [10, 'window-storm'],
      [20, 'open-burst'],
    ]);
    switch (what) {
      case 'mutation': {
        const base = this.wellFormed(newSessionState());
        const m = this.mutate(base.frame);
        return [this.frameItem(`${m.kind}:${base.kind}`, m.frame, st)];
      }
      case 'fragmented': {
        const wf = this.wellFormed(st);
        const c = classify(wf.frame, st);
        return [
          {
            kind: `frag:${wf.kind}`,
            bytes: this.fragmented(wf.frame),
            frame: wf.frame,
            ...(c.fatal && { end: 'fatal' as const, reason: c.reason }),
          },
        ];
      }
      case 'huge':
        return [this.frameItem('HUGE', this.hugeFrame(st), st)];
      case 'ws-ping':
        return [
          {
            kind: r.chance(0.5) ? 'ws:ping' : 'ws:pong',
            bytes: wsFrame(r.chance(0.5) ? WsOpcode.PING : WsOpcode.PONG, r.bytes(r.int(126)), {
              key: this.maskKey(),
            }),
          },
        ];
      case 'window-storm': {
        const id = this.streamId(st);
        return Array.from({ length: r.range(5, 100) }, () =>
          this.frameItem(
            'WINDOW-storm',
            rawFrame(FrameType.WINDOW, 0, id, u32be(r.chance(0.5) ? 0xffffffff : this.nonZeroU32())),
            st,
          ),
        );
      }
      case 'open-burst':
        return Array.from({ length: r.range(5, 50) }, () => {
          const id = st.lastOpen + 2 - (st.lastOpen % 2 === 0 ? 1 : 0);
          const meta = Buffer.from(
            JSON.stringify({ service: r.chance(0.7) ? this.service : r.pick(NAME_POOL) }),
          );
          return this.frameItem(
            'OPEN-burst',
            rawFrame(FrameType.OPEN, 0, id, Buffer.concat([u32be(this.nonZeroU32()), meta])),
            st,
          );
        });
      default: {
        const wf = this.wellFormed(st);
        return [this.frameItem(wf.kind, wf.frame, st)];
      }
    }
  }

  frameItem(kind: string, frame: Buffer, st: SessionState): Item {
    const c = classify(frame, st);
    const item: Item = { kind, bytes: this.message(frame), frame };
    if (c.fatal) {
      item.end = 'fatal';
      item.reason = c.reason;
    }
    return item;
  }

  /** A batch: body items (the first fatal one ends it), then, half the time, a session-ending item. */
  batch(st: SessionState, maxItems: number): { body: Item[]; end?: Item } {
    const r = this.rng;
    const target = Math.min(maxItems, r.chance(0.2) ? r.range(1, 20) : r.range(20, 1500));
    const body: Item[] = [];
    // A frame that would end the session is not sent mid-batch: the first one is kept as a candidate end.
    let fatalMutation: Item | undefined;
    while (body.length < target) {
      for (const item of this.bodyItem(st)) {
        const control = item.frame?.[0] === FrameType.CONTROL;
        if (item.end) fatalMutation ??= item;
        else if (control && st.controls >= CONTROL_BUDGET) continue;
        else {
          if (control) st.controls++;
          body.push(item);
        }
      }
    }
    if (r.chance(0.4)) return { body };
    const k = r.int(4);
    if (k === 0 && fatalMutation) return { body, end: fatalMutation };
    if (k <= 1) return { body, end: this.wsAttack() };
    if (k === 2) {
      const e = this.sessionEnder(st);
      const c = classify(e.frame, st);
      return {
        body,
        end: {
          kind: e.kind,
          bytes: this.message(e.frame),
          frame: e.frame,
          end: c.fatal ? 'fatal' : 'maybe',
          ...(c.fatal && { reason: c.reason }),
        },
      };
    }
    for (let tries = 0; tries < 50; tries++) {
      const base = this.wellFormed(newSessionState());
      const m = this.mutate(base.frame);
      const item = this.frameItem(`${m.kind}:${base.kind}`, m.frame, st);
      if (item.end) return { body, end: item };
    }
    return { body };
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Known crashers: minimized inputs that killed the hub once. Replayed first on every run, each in its own session.

/** A CONTROL message whose JSON fills the 1 MiB payload exactly, `field` carrying the filler. */
function fullControl(msg: Record<string, unknown>, field: string): Item {
  const room = MAX_FRAME_PAYLOAD - Buffer.byteLength(JSON.stringify({ ...msg, [field]: '' }));
  const frame = rawFrame(
    FrameType.CONTROL,
    0,
    0,
    Buffer.from(JSON.stringify({ ...msg, [field]: 'n'.repeat(room) })),
  );
  return { kind: `known:control-${field}`, bytes: wsFrame(WsOpcode.BINARY, frame), frame };
}

/**
 * Found by this fuzzer on the hub of commit 467c561 (seed 2, minimized to one frame): a CONTROL reply that quotes
 * a ~1 MB field of the request is over the 1 MiB payload limit, encodeFrame throws in the gateway's reply
 * callback, and the unhandled rejection ends the hub (exit 1, "CONTROL payload is 1048653 bytes, over the
 * 1048576-byte limit" from MuxSession.sendControl). Each is one CONTROL frame of exactly 1 MiB of payload.
 */
export const KNOWN_CRASHERS: { name: string; items: () => Item[] }[] = [
  { name: 'unknown op of 1 MB echoed', items: () => [fullControl({ rid: 756 }, 'op')] },
  { name: 'unexpose of a 1 MB name echoed', items: () => [fullControl({ op: 'unexpose', rid: 1 }, 'name')] },
  { name: 'expose of a 1 MB name echoed', items: () => [fullControl({ op: 'expose', rid: 1 }, 'name')] },
  { name: 'rid of 1 MB echoed', items: () => [fullControl({ op: 'x' }, 'rid')] },
];

// ---------------------------------------------------------------------------------------------------------------
// Hub, agents and the raw exposers

const SERVICE = 'fuzz-svc';
const ECHO = 'echo-svc';

interface HubCtx {
  hub: TestHub;
  key: string;
  agentA: string;
  agentB: string;
  exposer: RawPeer;
  echo: RawPeer;
  rssStart: number;
  /** The workspace's session gauges and the hub's heap, from /metrics. */
  gaugesStart: Gauges;
  epoch: number;
  exposerReconnects: number;
}

/** node flags of `npm start` that NODE_OPTIONS accepts: --expose-gc lets the hub collect when idle. */
const HUB_NODE_OPTIONS = process.env.FUZZ_HUB_NODE_OPTIONS ?? '--max-semi-space-size=2 --expose-gc';

/**
 * glibc raises its mmap threshold each time a big (mmapped) block is freed, so after the first 1 MiB frames the
 * next ones come from the heap arenas, and an idle hub keeps tens of MB of freed-but-fragmented arena in its RSS
 * (measured: +50 MB after 1M frames, the same after 3M; +38 MB with the threshold pinned). Pinning it keeps the
 * RSS check about live memory. FUZZ_HUB_MALLOC_MMAP_THRESHOLD='' leaves glibc's default.
 */
const HUB_ENV: NodeJS.ProcessEnv = {
  NODE_OPTIONS: HUB_NODE_OPTIONS,
  ...(process.env.FUZZ_HUB_MALLOC_MMAP_THRESHOLD !== '' && {
    MALLOC_MMAP_THRESHOLD_: process.env.FUZZ_HUB_MALLOC_MMAP_THRESHOLD ?? '131072',
  }),
};

async function expose(peer: RawPeer, name: string, rid: number): Promise<void> {
  peer.control({ op: 'expose', rid, name, targetHost: '127.0.0.1', targetPort: 9 });
  const reply = await peer.waitForReply(rid, 10_000);
  if (reply.msg.ok !== true) throw new Error(`expose ${name} failed: ${JSON.stringify(reply.msg)}`);
}

/** The fuzz target: accepts, refuses or ignores the hub's OPENs at random, echoes some DATA, answers FIN. */
function playFuzzService(peer: RawPeer, rng: Rng): void {
  const open = new Set<number>();
  peer.maxKept = 0;
  peer.onFrame = (f) => {
    switch (f.type) {
      case FrameType.OPEN: {
        const r = rng.int(10);
        if (r < 2) peer.rst(f.streamId, rng.int(9), 'fuzz service refuses');
        else if (r < 3) return;
        else {
          peer.accept(f.streamId);
          open.add(f.streamId);
          if (rng.chance(0.3)) peer.data(f.streamId, 'hello');
          if (open.size > 4096) {
            const oldest = open.values().next().value as number;
            open.delete(oldest);
            peer.rst(oldest, 0, 'too many');
          }
        }
        return;
      }
      case FrameType.DATA:
        if (!open.has(f.streamId)) return;
        if (rng.chance(0.5)) peer.data(f.streamId, Buffer.from(f.payload.subarray(0, 512)));
        if (rng.chance(0.5)) peer.window(f.streamId, f.payload.length);
        return;
      case FrameType.FIN:
        if (open.delete(f.streamId)) peer.fin(f.streamId);
        return;
      case FrameType.RST:
        open.delete(f.streamId);
        return;
      default:
        return;
    }
  };
}

/** A well-behaved echo service: accepts, echoes DATA exactly, grants the window back, FIN for FIN. */
function playEchoService(peer: RawPeer): void {
  peer.maxKept = 0;
  peer.onFrame = (f) => {
    if (f.type === FrameType.OPEN) peer.accept(f.streamId);
    else if (f.type === FrameType.DATA) {
      peer.data(f.streamId, Buffer.from(f.payload));
      peer.window(f.streamId, f.payload.length);
    } else if (f.type === FrameType.FIN) peer.fin(f.streamId);
  };
}

async function connectExposer(
  ctx: { hub: TestHub; key: string; agentA: string },
  rng: Rng,
): Promise<RawPeer> {
  const peer = await RawPeer.connect(ctx.hub.url, { apiKey: ctx.key, agentId: ctx.agentA, kind: 'agent' });
  await expose(peer, SERVICE, 1);
  playFuzzService(peer, rng);
  return peer;
}

type Gauges = Record<
  'sessions' | 'streams' | 'splices' | 'buffered' | 'heapUsed' | 'heapTotal' | 'external',
  number
>;

/** The hub's own view, from GET /metrics (scraped once at the start too: prom-client loads on the first scrape). */
async function gauges(hubUrl: string, key: string): Promise<Gauges> {
  const res = await fetch(`${hubUrl}/metrics`, { headers: { 'x-api-key': key } });
  const text = await res.text();
  const read = (name: string): number => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN);
  return {
    sessions: read('pc_hub_sessions'),
    streams: read('pc_hub_streams'),
    splices: read('pc_hub_splices'),
    buffered: read('pc_hub_buffered_bytes'),
    heapUsed: read('pc_hub_nodejs_heap_size_used_bytes'),
    heapTotal: read('pc_hub_nodejs_heap_size_total_bytes'),
    external: read('pc_hub_nodejs_external_memory_bytes'),
  };
}

const showGauges = (g: Gauges): string =>
  `${g.sessions} sessions, ${g.streams} streams, ${g.splices} splices, ${g.buffered} bytes buffered, heap ${mb(g.heapUsed)} used of ${mb(g.heapTotal)}, external ${mb(g.external)}`;

const FUZZ_TUNNEL_PORTS = '61000-61039';

async function bringUpHub(epoch: number, rng: Rng, settleMs = 500): Promise<HubCtx> {
  // Tunnel ports above Linux's ephemeral range (32768-60999): other test files probe "closed" ports they got from
  // the kernel, and one landing on this hub's tunnel listener would open a stream the end check counts.
  const hub = await startTestHub({ env: HUB_ENV, tunnelPorts: FUZZ_TUNNEL_PORTS });
  const key = await hub.createKey('fuzz');
  const { agentId: agentA } = await registerAgent(hub.url, key, 'fuzz-server');
  const { agentId: agentB } = await registerAgent(hub.url, key, 'fuzz-client');
  const exposer = await connectExposer({ hub, key, agentA }, rng);
  const echo = await RawPeer.connect(hub.url, { apiKey: key, agentId: agentA, kind: 'echo' });
  await expose(echo, ECHO, 1);
  playEchoService(echo);
  await sleep(settleMs);
  return {
    hub,
    key,
    agentA,
    agentB,
    exposer,
    echo,
    rssStart: hubRss(hub.process.pid),
    gaugesStart: await gauges(hub.url, key),
    epoch,
    exposerReconnects: 0,
  };
}

const hubAlive = (hub: TestHub): boolean =>
  hub.process.child.exitCode === null && hub.process.child.signalCode === null;

/** A reach through the hub to the echo service, by a fresh well-behaved peer: bytes come back exactly. */
async function checkReach(ctx: HubCtx): Promise<void> {
  const peer = await RawPeer.connect(ctx.hub.url, { apiKey: ctx.key, agentId: ctx.agentB, kind: 'reach' });
  try {
    peer.open(1, 4 * 1024 * 1024, { service: ECHO });
    const sent = [
      Buffer.from('hello through the hub'),
      Buffer.alloc(100_000, 7),
      Buffer.from([0, 1, 2, 255]),
    ];
    const want = Buffer.concat(sent);
    const got: Buffer[] = [];
    let have = 0;
    const done = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`reach: ${have} of ${want.length} bytes echoed`)),
        10_000,
      );
      peer.onFrame = (f) => {
        if (f.type === FrameType.DATA && f.streamId === 1) {
          got.push(Buffer.from(f.payload));
          have += f.payload.length;
          if (have >= want.length) {
            clearTimeout(timer);
            resolve();
          }
        } else if (f.type === FrameType.RST && f.streamId === 1) {
          clearTimeout(timer);
          reject(new Error(`reach: RST ${f.code} ${f.reason}`));
        }
      };
    });
    for (const s of sent) peer.data(1, s);
    await done;
    if (!Buffer.concat(got).equals(want)) throw new Error('reach: the echo differs from what was sent');
    peer.fin(1);
    await peer.waitFor((f) => f.type === FrameType.FIN && f.streamId === 1, 5000);
  } finally {
    peer.destroy();
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Feeding one batch

interface BatchOutcome {
  /** The PONG after the body came: the hub processed every body frame. */
  bodyFed: boolean;
  /** The session-ending item had its effect (or the PONG after it came). */
  endFed: boolean;
  /** The session is still usable. */
  alive: boolean;
  /** The session ended before its PONG: how. */
  unexpected?: string;
  /** Something the hub should have done and did not (kept a session open after a protocol error). */
  anomaly?: string;
}

let syncCounter = 0n;

function syncPing(): { data: Buffer; bytes: Buffer } {
  const data = Buffer.allocUnsafe(8);
  data.writeBigUInt64BE(0xf0220000_00000000n + syncCounter++);
  return { data, bytes: wsFrame(WsOpcode.BINARY, rawFrame(FrameType.PING, 0, 0, data)) };
}

/** The PONGs a peer waits for, by their 8 bytes (hex). One frame listener per peer dispatches to them. */
const pongWaiters = new WeakMap<RawPeer, Map<string, () => void>>();

function waitPong(peer: RawPeer, data: Buffer, timeoutMs: number): Promise<'pong' | 'closed' | 'timeout'> {
  let waiters = pongWaiters.get(peer);
  if (!waiters) {
    const mine = new Map<string, () => void>();
    pongWaiters.set(peer, mine);
    peer.onFrame = (f) => {
      if (f.type !== FrameType.PONG) return;
      const hex = f.data.toString('hex');
      const done = mine.get(hex);
      if (done) {
        mine.delete(hex);
        done();
      }
    };
    waiters = mine;
  }
  const pending = waiters;
  const hex = data.toString('hex');
  return new Promise((resolve) => {
    let settled = false;
    const finish = (v: 'pong' | 'closed' | 'timeout'): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      pending.delete(hex);
      resolve(v);
    };
    const timer = setTimeout(() => finish('timeout'), timeoutMs);
    pending.set(hex, () => finish('pong'));
    void peer.closed.then(() => setImmediate(() => finish('closed')));
  });
}

function write(peer: RawPeer, bytes: Buffer): Promise<void> {
  return new Promise((resolve) => {
    if (peer.isClosed || peer.socket.destroyed) return resolve();
    peer.socket.write(bytes, () => resolve());
  });
}

async function feedBatch(
  peer: RawPeer,
  batch: { body: Item[]; end?: Item },
  pauseMs: number,
  timeoutMs: number,
): Promise<BatchOutcome> {
  const p1 = syncPing();
  const end = batch.end;
  const p2 = end && end.end === 'maybe' ? syncPing() : undefined;
  const parts = batch.body.map((i) => i.bytes);
  parts.push(p1.bytes);
  if (end) parts.push(end.bytes);
  if (p2) parts.push(p2.bytes);
  const pong1 = waitPong(peer, p1.data, timeoutMs);
  // After a 'maybe' item the hub may also just wait for bytes that never come (a length in random garbage).
  const pong2 = p2 ? waitPong(peer, p2.data, Math.min(timeoutMs, 3000)) : undefined;
  if (pauseMs > 0) peer.pauseReading();
  // One write for the whole batch: nothing the peer answers on its own (PONGs) can land inside a message.
  const written = write(peer, Buffer.concat(parts));
  if (pauseMs > 0) {
    await sleep(pauseMs);
    peer.resumeReading();
  }
  await written;
  if (end?.end === 'abort') {
    const r1 = await Promise.race([pong1, sleep(50).then(() => 'later' as const)]);
    peer.destroy();
    const bodyFed = r1 === 'pong' || (await pong1) === 'pong';
    return { bodyFed, endFed: true, alive: false };
  }
  const r1 = await pong1;
  if (r1 !== 'pong') {
    peer.destroy();
    const c = await peer.closed;
    return {
      bodyFed: false,
      endFed: false,
      alive: false,
      unexpected:
        r1 === 'timeout' ? 'no PONG within the timeout' : `closed ${c.code} ${c.reason.slice(0, 100)}`,
    };
  }
  if (!end) return { bodyFed: true, endFed: false, alive: true };
  if (p2 && pong2) {
    const r2 = await pong2;
    if (r2 === 'pong') return { bodyFed: true, endFed: true, alive: true };
    peer.destroy();
    return { bodyFed: true, endFed: true, alive: false };
  }
  const closed = await Promise.race([peer.closed.then(() => true), sleep(timeoutMs).then(() => false)]);
  peer.destroy();
  if (!closed) {
    return {
      bodyFed: true,
      endFed: false,
      alive: false,
      anomaly: `session still open ${timeoutMs} ms after ${end.kind} (${end.reason ?? ''})`,
    };
  }
  return { bodyFed: true, endFed: true, alive: false };
}

// ---------------------------------------------------------------------------------------------------------------
// The run

export interface FuzzConfig {
  frames: number;
  seed: number;
  peers: number;
  deadlineMs: number;
  rssBoundBytes: number;
  minimizeMs: number;
  log: (line: string) => void;
}

interface Crash {
  epoch: number;
  exit: string;
  stderr: string;
  /** Batches in flight (and each peer's previous one) when the hub died, in the order they were sent. */
  suspects: { session: string; items: Item[] }[];
  minimized?: { session: string; items: Item[] }[];
  note?: string;
}

export interface FuzzReport {
  seed: number;
  framesFed: number;
  framesSent: number;
  sessions: number;
  batches: number;
  elapsedMs: number;
  rssStart: number;
  rssPeak: number;
  rssEnd: number;
  gaugesStart?: Gauges;
  gaugesEnd?: Gauges;
  crashes: Crash[];
  unexpectedCloses: Map<string, number>;
  anomalies: string[];
  healthFailures: number;
  reachOk: boolean;
  reachError?: string;
  deadlineHit: boolean;
  kinds: Map<string, number>;
  exposerReconnects: number;
  /** Why the hub closed the fuzz service's session (it pauses its reading now and then: a slow reader). */
  exposerCloses: Map<string, number>;
}

const mb = (n: number): string => `${(n / 1024 / 1024).toFixed(1)} MB`;

/** One line about an item: its kind, its size, its frame header, and its payload (text for JSON, else hex). */
export function describeItem(item: Item): string {
  const end = item.end ? ` [${item.end}${item.reason ? `: ${item.reason}` : ''}]` : '';
  let text = `${item.kind}${end}, ${item.bytes.length} bytes on the wire`;
  const f = item.frame;
  if (!f) return `${text}: ${item.bytes.subarray(0, 32).toString('hex')}`;
  text += `; frame type=${f[0]} flags=${f[1]} id=${f.length >= 6 ? f.readUInt32BE(2) : '-'}`;
  text += ` payload=${Math.max(0, f.length - HEADER_SIZE)} bytes`;
  const json = f[0] === FrameType.CONTROL || f[0] === FrameType.OPEN;
  if (!json) return `${text}: ${f.subarray(HEADER_SIZE, HEADER_SIZE + 24).toString('hex')}`;
  const body = f.subarray(f[0] === FrameType.OPEN ? HEADER_SIZE + 4 : HEADER_SIZE).toString('utf8');
  const shown = body.replace(/(.)\1{40,}/gu, (m, c: string) => `<${m.length} × '${c}'>`);
  return `${text}: ${shown.slice(0, 200)}`;
}

/** Writes a crash's suspect items (hex, in order, with their sessions) to a file in the temp dir; returns its path. */
function saveSuspects(crash: Crash, seed: number): string {
  const path = join(tmpdir(), `pc-fuzz-crash-${seed}-${crash.epoch}.jsonl`);
  const lines = crash.suspects.flatMap((g) =>
    g.items.map((i) =>
      JSON.stringify({ session: g.session, kind: i.kind, end: i.end, hex: i.bytes.toString('hex') }),
    ),
  );
  writeFileSync(path, `${lines.join('\n')}\n`);
  return path;
}

/** What a crash printed, reduced to a comparable line: the first error line, numbers dropped. */
function crashSignature(stderr: string): string {
  const line = stderr.split('\n').find((l) => /^\w*Error\b|^\w+: /.test(l)) ?? stderr.slice(-200);
  return line.replace(/\d+/g, 'N').trim();
}

export async function runFuzz(cfg: FuzzConfig): Promise<FuzzReport> {
  const started = Date.now();
  const deadline = started + cfg.deadlineMs;
  const log = cfg.log;
  const exposerRng = new Rng(cfg.seed ^ 0x5eed);
  const report: FuzzReport = {
    seed: cfg.seed,
    framesFed: 0,
    framesSent: 0,
    sessions: 0,
    batches: 0,
    elapsedMs: 0,
    rssStart: 0,
    rssPeak: 0,
    rssEnd: 0,
    crashes: [],
    unexpectedCloses: new Map(),
    anomalies: [],
    healthFailures: 0,
    reachOk: false,
    deadlineHit: false,
    kinds: new Map(),
    exposerReconnects: 0,
    exposerCloses: new Map(),
  };
  const count = (map: Map<string, number>, key: string, n = 1): void => {
    map.set(key, (map.get(key) ?? 0) + n);
  };

  let ctx = await bringUpHub(0, exposerRng);
  report.rssStart = ctx.rssStart;
  report.rssPeak = ctx.rssStart;
  log(`hub pid ${ctx.hub.process.pid} at ${ctx.hub.url}, RSS ${mb(ctx.rssStart)} at start`);

  // Restarting after a crash: peers wait on `ready` while it is replaced.
  let ready: Promise<HubCtx> = Promise.resolve(ctx);
  let restarting = false;
  let stopping = false;
  const inFlight = new Map<number, { session: string; items: Item[] }>();
  const previous = new Map<number, { session: string; items: Item[] }>();

  const watchHub = (c: HubCtx): void => {
    void c.hub.process.exited.then((code) => {
      if (stopping) return;
      restarting = true;
      const child = c.hub.process.child;
      const crash: Crash = {
        epoch: c.epoch,
        exit: `code ${String(code)} signal ${String(child.signalCode)}`,
        stderr: c.hub.process.stderr
          .split('\n')
          .filter((l) => !l.startsWith('{'))
          .join('\n')
          .slice(-2000),
        suspects: [...previous.values(), ...inFlight.values()],
      };
      report.crashes.push(crash);
      log(
        `[!] hub crashed (${crash.exit}) in epoch ${c.epoch}; ${crash.suspects.length} batches in flight. Its last words:\n${crash.stderr.slice(-1200)}`,
      );
      c.exposer.destroy();
      c.echo.destroy();
      ready = bringUpHub(c.epoch + 1, exposerRng).then((next) => {
        ctx = next;
        restarting = false;
        watchHub(next);
        log(`hub restarted: pid ${next.hub.process.pid}, RSS ${mb(next.rssStart)}`);
        return next;
      });
    });
  };
  watchHub(ctx);

  // Keeps the fuzz exposer alive: if the hub closed it (a limit, a bug), reconnect and expose again.
  const keepExposer = async (): Promise<void> => {
    while (!stopping) {
      const c = ctx;
      const usable = (): boolean => !stopping && !restarting && ctx === c && hubAlive(c.hub);
      if (!usable()) {
        await sleep(200);
        continue;
      }
      const closed = await Promise.race([c.exposer.closed.then(() => true), sleep(500).then(() => false)]);
      if (!closed) continue;
      await sleep(100);
      if (!usable()) continue;
      const info = await c.exposer.closed;
      count(report.exposerCloses, `${info.code} ${info.reason.replace(/\d+/g, 'N').slice(0, 100)}`);
      try {
        c.exposer = await connectExposer(c, exposerRng);
        c.exposerReconnects++;
        report.exposerReconnects++;
      } catch (err) {
        if (hubAlive(c.hub)) log(`[!] cannot reconnect the fuzz service: ${String(err)}`);
        await sleep(200);
      }
    }
  };

  // Replay the known crashers first, each in a session of its own.
  for (const known of KNOWN_CRASHERS) {
    const c = await ready;
    const items = known.items();
    try {
      const peer = await RawPeer.connect(c.hub.url, { apiKey: c.key, agentId: c.agentB });
      peer.maxKept = 0;
      inFlight.set(-1, { session: `known:${known.name}`, items });
      await feedBatch(peer, { body: items }, 0, 5000);
      peer.destroy();
    } catch {
      // a crash is noticed below
    }
    await Promise.race([c.hub.process.exited, sleep(500)]);
    inFlight.delete(-1);
    if (!hubAlive(c.hub)) {
      log(`[!] known crasher '${known.name}' still kills the hub`);
      const crash = report.crashes[report.crashes.length - 1]!;
      crash.note = `known crasher '${known.name}'`;
      crash.minimized = [{ session: `known:${known.name}`, items }];
    }
    count(report.kinds, `known:${known.name}`);
  }

  const peerLoop = async (index: number): Promise<void> => {
    const rng = new Rng((cfg.seed + Math.imul(index + 1, 0x9e3779b9)) >>> 0);
    const gen = new FrameGen(rng, SERVICE);
    let sessionNo = 0;
    let peer: RawPeer | undefined;
    let st = newSessionState();
    let c = await ready;
    while (!stopping && report.framesFed < cfg.frames) {
      if (Date.now() > deadline) {
        report.deadlineHit = true;
        break;
      }
      if (restarting || !hubAlive(c.hub) || ctx !== c) {
        peer?.destroy();
        peer = undefined;
        c = await ready;
        continue;
      }
      if (!peer) {
        try {
          peer = await RawPeer.connect(c.hub.url, {
            apiKey: c.key,
            agentId: c.agentB,
            kind: rng.pick(['agent', 'reach', 'proxy']),
          });
        } catch (err) {
          await Promise.race([c.hub.process.exited, sleep(300)]);
          if (hubAlive(c.hub) && !restarting)
            report.anomalies.push(`connect failed: ${String(err).slice(0, 200)}`);
          continue;
        }
        peer.maxKept = 0;
        sessionNo++;
        report.sessions++;
        st = newSessionState();
      }
      const batch = gen.batch(st, Math.max(1, Math.min(1500, cfg.frames - report.framesFed)));
      const items = batch.end ? [...batch.body, batch.end] : batch.body;
      const label = `peer ${index} session ${sessionNo} batch ${report.batches}`;
      inFlight.set(index, { session: label, items });
      const sent = items.length;
      report.framesSent += sent;
      const t0 = Date.now();
      const outcome = await feedBatch(peer, batch, rng.chance(0.03) ? rng.range(5, 100) : 0, 20_000);
      const took = Date.now() - t0;
      if (took > 2000) {
        log(
          `  slow batch (${took} ms): ${label}, ${batch.body.length} items, end ${batch.end ? describeItem(batch.end).slice(0, 200) : 'none'}, ${JSON.stringify(outcome)}`,
        );
      }
      report.batches++;
      inFlight.delete(index);
      previous.set(index, { session: label, items });
      if (!hubAlive(c.hub) || restarting) {
        peer.destroy();
        peer = undefined;
        continue;
      }
      if (outcome.bodyFed) {
        report.framesFed += batch.body.length;
        for (const i of batch.body) count(report.kinds, i.kind.split(':').slice(0, 2).join(':'));
      }
      if (outcome.endFed && batch.end) {
        report.framesFed++;
        count(report.kinds, `end ${batch.end.kind}`);
      }
      if (outcome.unexpected) count(report.unexpectedCloses, outcome.unexpected.replace(/\d+/g, 'N'));
      if (outcome.anomaly) report.anomalies.push(outcome.anomaly);
      if (!outcome.alive) {
        peer.destroy();
        peer = undefined;
      }
      try {
        const rss = hubRss(c.hub.process.pid);
        if (rss > report.rssPeak) report.rssPeak = rss;
      } catch {
        // the hub is gone: noticed above on the next turn
      }
    }
    peer?.destroy();
  };

  // /health between batches, all along.
  const healthLoop = async (): Promise<void> => {
    while (!stopping) {
      const c = await ready;
      if (stopping) return;
      const ok = await health(c.hub.url, 5000);
      if (!ok && hubAlive(c.hub) && !restarting && !stopping) {
        report.healthFailures++;
        log('[!] /health did not answer 200 within 5 s');
      }
      await sleep(250);
    }
  };

  const progress = setInterval(() => {
    log(
      `  ${report.framesFed} frames fed, ${report.sessions} sessions, ${((Date.now() - started) / 1000).toFixed(0)} s, hub RSS ${
        hubAlive(ctx.hub) ? mb(hubRss(ctx.hub.process.pid)) : 'down'
      }`,
    );
  }, 10_000);
  const exposerWatch = keepExposer();
  // The fuzz service stops reading now and then (a slow agent): what flows toward it backs up in the hub.
  const pauser = (async (): Promise<void> => {
    const rng = new Rng(cfg.seed ^ 0x51e3);
    while (!stopping) {
      await sleep(rng.range(500, 3000));
      if (stopping || !rng.chance(0.3)) continue;
      const peer = ctx.exposer;
      peer.pauseReading();
      await sleep(rng.range(100, 1500));
      peer.resumeReading();
    }
  })();
  const healthDone = healthLoop();
  await Promise.all(Array.from({ length: cfg.peers }, (_, i) => peerLoop(i)));
  clearInterval(progress);
  const c = await ready;
  report.elapsedMs = Date.now() - started;

  // The end: a well-behaved reach, then the peers gone and the hub idle, its memory.
  try {
    await checkReach(c);
    report.reachOk = true;
  } catch (err) {
    report.reachError = String(err);
  }
  stopping = true;
  await healthDone;
  await exposerWatch;
  await pauser;
  if (!(await health(c.hub.url))) report.healthFailures++;
  // Idle: the hub's idle collector (every 2 s, under --expose-gc) returns the garbage of the run.
  // At least two of its checks, then until the RSS stops falling (at most 10 s).
  let rssEnd = Number.POSITIVE_INFINITY;
  let lastFall = 0;
  for (let i = 0; i < 10; i++) {
    await sleep(1000);
    if (!hubAlive(c.hub)) break;
    const rss = hubRss(c.hub.process.pid);
    if (rss < rssEnd - 256 * 1024) lastFall = i;
    rssEnd = Math.min(rssEnd, rss);
    if (i >= 4 && i - lastFall >= 2) break;
  }
  report.rssEnd = rssEnd;
  report.rssStart = c.rssStart;
  report.gaugesStart = c.gaugesStart;
  try {
    report.gaugesEnd = await gauges(c.hub.url, c.key);
  } catch {
    // the hub died at the very end: reported as a crash below
  }
  c.exposer.destroy();
  c.echo.destroy();
  if (!hubAlive(c.hub) && report.crashes.every((k) => k.epoch !== c.epoch)) {
    report.crashes.push({
      epoch: c.epoch,
      exit: 'died at the end',
      stderr: c.hub.process.stderr.slice(-2000),
      suspects: [],
    });
  }
  await c.hub.stop();

  if (report.crashes.length > 0) await minimizeCrashes(report.crashes, cfg, log);
  return report;
}

// ---------------------------------------------------------------------------------------------------------------
// Minimizing a crash: replay the suspect batches against fresh hubs, keep the half that still kills it.

async function minimizeCrashes(
  crashes: Crash[],
  cfg: FuzzConfig,
  log: (line: string) => void,
): Promise<void> {
  const until = Date.now() + cfg.minimizeMs;
  let hub: HubCtx | undefined;
  const rng = new Rng(cfg.seed ^ 0xbad);
  const fresh = async (): Promise<HubCtx> => {
    if (hub && hubAlive(hub.hub)) return hub;
    hub = await bringUpHub(-1, rng, 0);
    return hub;
  };

  /** Replays groups (one session each, in order); true when the hub died. */
  const kills = async (groups: { session: string; items: Item[] }[]): Promise<boolean> => {
    const h = await fresh();
    for (const g of groups) {
      let peer: RawPeer;
      try {
        peer = await RawPeer.connect(h.hub.url, { apiKey: h.key, agentId: h.agentB });
      } catch {
        break;
      }
      peer.maxKept = 0;
      // Split at session-ending items: each one ends its session, the next items go to a new one.
      let body: Item[] = [];
      for (const item of g.items) {
        if (item.end) {
          await feedBatch(peer, { body, end: item }, 0, 3000);
          body = [];
          peer.destroy();
          try {
            peer = await RawPeer.connect(h.hub.url, { apiKey: h.key, agentId: h.agentB });
          } catch {
            break;
          }
          peer.maxKept = 0;
        } else body.push(item);
      }
      if (body.length > 0) await feedBatch(peer, { body }, 0, 3000);
      peer.destroy();
      if (!hubAlive(h.hub)) break;
    }
    await sleep(400);
    const dead = !hubAlive(h.hub) || !(await health(h.hub.url, 2000));
    if (dead) {
      await h.hub.process.exited;
      hub = undefined;
    }
    return dead;
  };

  const flatten = (groups: { session: string; items: Item[] }[]): { session: string; item: Item }[] =>
    groups.flatMap((g) => g.items.map((item) => ({ session: g.session, item })));
  const regroup = (list: { session: string; item: Item }[]): { session: string; items: Item[] }[] => {
    const out: { session: string; items: Item[] }[] = [];
    for (const e of list) {
      const last = out[out.length - 1];
      if (last && last.session === e.session) last.items.push(e.item);
      else out.push({ session: e.session, items: [e.item] });
    }
    return out;
  };

  const seen = new Set<string>();
  const signatures = new Map<string, string>();
  for (const crash of crashes) {
    if (Date.now() > until) {
      crash.note = `${crash.note ?? ''} (not minimized: out of time)`.trim();
      continue;
    }
    if (crash.suspects.length === 0 || crash.minimized) {
      const sig = crashSignature(crash.stderr);
      if (crash.minimized && !signatures.has(sig)) signatures.set(sig, crash.note ?? 'a known crasher');
      continue;
    }
    const same = signatures.get(crashSignature(crash.stderr));
    if (same) {
      crash.note = `${crash.note ?? ''} (same failure as ${same}: not minimized again)`.trim();
      continue;
    }
    let list = flatten(crash.suspects);
    if (!(await kills(regroup(list)))) {
      crash.note = `${crash.note ?? ''} (the batches in flight did not kill a fresh hub again)`.trim();
      continue;
    }
    // Halving, then dropping single items, while time allows.
    let chunk = Math.ceil(list.length / 2);
    while (chunk >= 1 && list.length > 1 && Date.now() < until) {
      let reduced = false;
      for (let at = 0; at < list.length && Date.now() < until; at += chunk) {
        const candidate = list.slice(at, at + chunk);
        if (candidate.length < list.length && (await kills(regroup(candidate)))) {
          list = candidate;
          reduced = true;
          break;
        }
        const complement = [...list.slice(0, at), ...list.slice(at + chunk)];
        if (complement.length > 0 && complement.length < list.length && (await kills(regroup(complement)))) {
          list = complement;
          reduced = true;
          break;
        }
      }
      if (!reduced) chunk = Math.floor(chunk / 2);
      else chunk = Math.min(chunk, Math.ceil(list.length / 2));
    }
    crash.minimized = regroup(list);
    signatures.set(crashSignature(crash.stderr), `the crash of epoch ${crash.epoch}`);
    const key = list.map((e) => e.item.kind).join(',');
    if (seen.has(key)) crash.note = `${crash.note ?? ''} (same input as an earlier crash)`.trim();
    seen.add(key);
    log(
      `[!] crash minimized to ${list.length} item(s):\n${list.map((e) => `    ${describeItem(e.item)}`).join('\n')}`,
    );
  }
  if (hub) await hub.hub.stop();
}

// ---------------------------------------------------------------------------------------------------------------
// The test

const envInt = (name: string, fallback: number): number => {
  const v = process.env[name];
  return v === undefined || v === '' ? fallback : Number(v);
};

const FRAMES = envInt('FUZZ_FRAMES', 50_000);
const LONG = FRAMES > 100_000;
const SEED = envInt('FUZZ_SEED', Math.floor(Math.random() * 0x1_0000_0000)) >>> 0;
const DEADLINE_MS = envInt('FUZZ_DEADLINE_S', LONG ? 900 : 40) * 1000;
const MINIMIZE_MS = envInt('FUZZ_MINIMIZE_S', LONG ? 120 : 25) * 1000;

afterAll(cleanupAll);

describe('wire fuzzer', () => {
  it(
    `feeds ${FRAMES} random and mutated frames to a real hub: no crash, memory back, reach works`,
    async () => {
      const lines: string[] = [];
      const log = (line: string): void => {
        lines.push(line);
        console.log(`[fuzz] ${line}`);
      };
      log(`seed ${SEED} (replay: FUZZ_SEED=${SEED} FUZZ_FRAMES=${FRAMES} npx vitest run test/fuzz.test.ts)`);
      const report = await runFuzz({
        frames: FRAMES,
        seed: SEED,
        peers: envInt('FUZZ_PEERS', 3),
        deadlineMs: DEADLINE_MS,
        rssBoundBytes: envInt('FUZZ_RSS_BOUND_MB', 60) * 1024 * 1024,
        minimizeMs: MINIMIZE_MS,
        log,
      });
      const kinds = [...report.kinds.entries()].sort((a, b) => b[1] - a[1]);
      log(
        [
          `seed            ${report.seed}`,
          `frames fed      ${report.framesFed} (confirmed by the hub; ${report.framesSent} sent)`,
          `sessions        ${report.sessions} (${report.batches} batches)`,
          `elapsed         ${(report.elapsedMs / 1000).toFixed(1)} s (${Math.round(report.framesFed / (report.elapsedMs / 1000))} frames/s)${report.deadlineHit ? ' DEADLINE HIT' : ''}`,
          `hub RSS         start ${mb(report.rssStart)}, peak ${mb(report.rssPeak)}, end ${mb(report.rssEnd)} (idle, peers gone)`,
          `hub gauges      start: ${report.gaugesStart ? showGauges(report.gaugesStart) : '-'}`,
          `                end:   ${report.gaugesEnd ? showGauges(report.gaugesEnd) : '-'}`,
          `crashes         ${report.crashes.length}`,
          `health failures ${report.healthFailures}`,
          `reach at end    ${report.reachOk ? 'ok' : `FAILED: ${report.reachError ?? ''}`}`,
          `fuzz service    reconnected ${report.exposerReconnects} times${report.exposerCloses.size ? ` (closed by the hub: ${[...report.exposerCloses.entries()].map(([k, v]) => `${v} × ${k}`).join('; ')})` : ''}`,
          `unexpected closes: ${[...report.unexpectedCloses.entries()].map(([k, v]) => `${v} × ${k}`).join('; ') || 'none'}`,
          `anomalies       ${report.anomalies.length}${report.anomalies.length ? `: ${[...new Set(report.anomalies)].slice(0, 10).join(' | ')}` : ''}`,
          `frame kinds     ${kinds
            .slice(0, 40)
            .map(([k, v]) => `${k}=${v}`)
            .join(' ')}`,
        ].join('\n'),
      );
      const crashLines = report.crashes.map((k) => {
        const items = (k.minimized ?? []).flatMap((g) => g.items);
        const input = k.minimized
          ? `input (${items.length} item(s)): ${items.slice(0, 3).map(describeItem).join(' / ')}${items.length > 3 ? ' / …' : ''}`
          : `not minimized; the ${k.suspects.reduce((n, g) => n + g.items.length, 0)} items in flight are in ${saveSuspects(k, report.seed)}`;
        return `${k.exit}: ${crashSignature(k.stderr)}${k.note ? ` ${k.note}` : ''}; ${input}`;
      });
      for (const line of crashLines) log(`crash: ${line}`);
      expect(crashLines).toEqual([]);
      expect(report.healthFailures).toBe(0);
      expect(report.reachError).toBeUndefined();
      expect(report.reachOk).toBe(true);
      // Back to idle: only the two raw services' sessions, no stream or splice left behind, nothing buffered.
      expect(report.gaugesEnd).toMatchObject({ sessions: 2, streams: 0, splices: 0, buffered: 0 });
      // The JS heap after the idle collection: what a leak would grow (RSS also keeps freed pages).
      expect(report.gaugesEnd!.heapUsed - report.gaugesStart!.heapUsed).toBeLessThanOrEqual(
        envInt('FUZZ_HEAP_BOUND_MB', 20) * 1024 * 1024,
      );
      expect(report.framesFed).toBeGreaterThanOrEqual(FRAMES);
      expect(report.rssEnd - report.rssStart).toBeLessThanOrEqual(
        envInt('FUZZ_RSS_BOUND_MB', 60) * 1024 * 1024,
      );
    },
    DEADLINE_MS + MINIMIZE_MS + 90_000,
  );
});
