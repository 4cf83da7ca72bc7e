import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as wsLibrary from 'ws';
import {
  closePayload,
  controlFrame,
  frameHeader,
  jsMasker,
  MAX_FRAGMENTS_PER_MESSAGE,
  MAX_MESSAGE_PIECES,
  nativeMasker,
  writeMasked,
  WsCloseCode,
  WsFrameReader,
  WsOpcode,
  type Masker,
} from './ws-codec.js';

interface Encoded {
  opcode: number;
  fin: boolean;
  payload: Buffer;
  mask: 'none' | 'zero' | 'random';
  rsv1?: boolean;
}

/** ws' own frame encoder (untyped in @types/ws): an independent reference for what a standard peer sends. */
const Sender = (wsLibrary as unknown as { Sender: { frame(data: Buffer, opts: object): Buffer[] } }).Sender;

/** Bytes a standard WebSocket peer (ws) would send for these frames. */
function wire(frames: Encoded[]): Buffer {
  const out: Buffer[] = [];
  for (const f of frames) {
    const parts = Sender.frame(Buffer.from(f.payload), {
      fin: f.fin,
      opcode: f.opcode,
      rsv1: f.rsv1 ?? false,
      readOnly: false,
      mask: f.mask !== 'none',
      ...(f.mask === 'zero' ? { generateMask: (m: Buffer) => m.fill(0) } : {}),
    });
    out.push(...parts);
  }
  return Buffer.concat(out);
}

interface Seen {
  messages: Buffer[];
  /** The parts each message was handed on in. */
  parts: Buffer[][];
  pings: Buffer[];
  closes: { code: number; reason: string }[];
  violations: { message: string; code: number }[];
}

function reader(expectMasked: boolean, maxMessage = 2_000_000, maxFragments?: number): [WsFrameReader, Seen] {
  const seen: Seen = { messages: [], parts: [], pings: [], closes: [], violations: [] };
  const r = new WsFrameReader(
    {
      onMessage(parts, length) {
        // However the message arrived, the reader holds and hands on a bounded number of pieces.
        expect(parts.length).toBeLessThanOrEqual(MAX_MESSAGE_PIECES);
        const joined = Buffer.concat(parts);
        expect(joined.length).toBe(length);
        seen.messages.push(joined);
        seen.parts.push(parts);
      },
      onPing: (p) => seen.pings.push(Buffer.from(p)),
      onPong: () => undefined,
      onClose: (code, reason) => seen.closes.push({ code, reason }),
      onViolation: (message, code) => seen.violations.push({ message, code }),
    },
    { expectMasked, maxMessage, ...(maxFragments === undefined ? {} : { maxFragments }) },
  );
  return [r, seen];
}

/** `payload` as one message in `count` frames (BINARY, then CONTINUATIONs, FIN on the last); some may be empty. */
function fragments(payload: Buffer, count: number, mask: Encoded['mask']): Encoded[] {
  const frames: Encoded[] = [];
  for (let k = 0; k < count; k++) {
    frames.push({
      opcode: k === 0 ? WsOpcode.BINARY : WsOpcode.CONTINUATION,
      fin: k === count - 1,
      payload: payload.subarray(
        Math.floor((payload.length * k) / count),
        Math.floor((payload.length * (k + 1)) / count),
      ),
      mask,
    });
  }
  return frames;
}

/** Pushes `bytes` in pieces of `size` bytes, each a buffer of its own (as socket reads are). */
function trickle(r: WsFrameReader, bytes: Buffer, size: number): void {
  for (let at = 0; at < bytes.length; at += size) r.push(Buffer.from(bytes.subarray(at, at + size)));
}

function pattern(size: number, seed = 0): Buffer {
  const b = Buffer.allocUnsafe(size);
  for (let j = 0; j < size; j++) b[j] = (j * 31 + seed) & 0xff;
  return b;
}

/** Feeds `bytes` cut at the given points (copies: a reader may unmask its input in place). */
function feed(r: WsFrameReader, bytes: Buffer, cuts: number[]): void {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  let at = 0;
  for (const p of [...points, bytes.length]) {
    if (p > at) r.push(Buffer.from(bytes.subarray(at, p)));
    at = Math.max(at, p);
  }
}

const sizes = fc.oneof(
  fc.integer({ min: 0, max: 130 }),
  fc.integer({ min: 65_530, max: 65_540 }),
  fc.integer({ min: 0, max: 300_000 }),
);

describe('WsFrameReader', () => {
  it('reads what a standard peer writes, however the bytes are cut, fragments and masks included', () => {
    fc.assert(
      fc.property(
        fc.boolean(),
        fc.array(
          fc.record({
            size: sizes,
            fragments: fc.integer({ min: 1, max: 3 }),
            pingBefore: fc.boolean(),
            randomMask: fc.boolean(),
          }),
          { minLength: 1, maxLength: 6 },
        ),
        fc.array(fc.nat(), { maxLength: 40 }),
        (fromClient, specs, cuts) => {
          const frames: Encoded[] = [];
          const messages: Buffer[] = [];
          const pings: Buffer[] = [];
          for (const [i, spec] of specs.entries()) {
            const mask = !fromClient ? 'none' : spec.randomMask ? 'random' : 'zero';
            if (spec.pingBefore) {
              const ping = Buffer.from(`ping ${i}`);
              pings.push(ping);
              frames.push({ opcode: WsOpcode.PING, fin: true, payload: ping, mask });
            }
            const payload = Buffer.allocUnsafe(spec.size);
            for (let j = 0; j < spec.size; j++) payload[j] = (j * 31 + i) & 0xff;
            messages.push(payload);
            // Split into `fragments` pieces: BINARY then CONTINUATIONs, FIN on the last.
            const bounds = [0];
            for (let k = 1; k < spec.fragments; k++)
              bounds.push(Math.floor((spec.size * k) / spec.fragments));
            bounds.push(spec.size);
            for (let k = 0; k + 1 < bounds.length; k++) {
              frames.push({
                opcode: k === 0 ? WsOpcode.BINARY : WsOpcode.CONTINUATION,
                fin: k + 2 === bounds.length,
                payload: payload.subarray(bounds[k], bounds[k + 1]),
                mask,
              });
            }
          }
          const [r, seen] = reader(fromClient);
          feed(r, wire(frames), cuts);
          expect(seen.violations).toEqual([]);
          expect(seen.pings).toEqual(pings);
          expect(seen.messages.length).toBe(messages.length);
          seen.messages.forEach((m, i) => expect(m.equals(messages[i]!)).toBe(true));
        },
      ),
      { numRuns: 150 },
    );
  });

  it('hands messages on as views of the pushed chunks, not copies', () => {
    const [r, seen] = reader(false);
    const parts: Buffer[][] = [];
    const r2 = new WsFrameReader(
      {
        onMessage: (p) => parts.push(p),
        onPing: () => undefined,
        onPong: () => undefined,
        onClose: () => undefined,
        onViolation: () => undefined,
      },
      { expectMasked: false, maxMessage: 1 << 20 },
    );
    const bytes = wire([
      { opcode: WsOpcode.BINARY, fin: true, payload: Buffer.alloc(1000, 7), mask: 'none' },
    ]);
    const a = Buffer.from(bytes.subarray(0, 500));
    const b = Buffer.from(bytes.subarray(500));
    r2.push(a);
    r2.push(b);
    expect(parts[0]!.map((p) => p.buffer)).toEqual([a.buffer, b.buffer]);
    r.push(bytes);
    expect(seen.messages[0]!.length).toBe(1000);
  });

  it('reports a close frame with its code and reason, and reads nothing after it', () => {
    const [r, seen] = reader(true);
    const bytes = wire([
      { opcode: WsOpcode.CLOSE, fin: true, payload: closePayload(1001, 'bye'), mask: 'random' },
      { opcode: WsOpcode.BINARY, fin: true, payload: Buffer.from('late'), mask: 'random' },
    ]);
    r.push(bytes);
    expect(seen.closes).toEqual([{ code: 1001, reason: 'bye' }]);
    expect(seen.messages).toEqual([]);
  });

  const violations: [string, boolean, Encoded[], number][] = [
    [
      'text message',
      true,
      [{ opcode: WsOpcode.TEXT, fin: true, payload: Buffer.from('hi'), mask: 'zero' }],
      1003,
    ],
    [
      'reserved bit',
      true,
      [{ opcode: 2, fin: true, payload: Buffer.from('x'), mask: 'zero', rsv1: true }],
      1002,
    ],
    [
      'unmasked from a client',
      true,
      [{ opcode: 2, fin: true, payload: Buffer.from('x'), mask: 'none' }],
      1002,
    ],
    [
      'masked from the server',
      false,
      [{ opcode: 2, fin: true, payload: Buffer.from('x'), mask: 'zero' }],
      1002,
    ],
    ['unknown opcode', false, [{ opcode: 3, fin: true, payload: Buffer.from('x'), mask: 'none' }], 1002],
    [
      'control over 125 bytes',
      false,
      [{ opcode: 9, fin: true, payload: Buffer.alloc(126), mask: 'none' }],
      1002,
    ],
    ['fragmented control', false, [{ opcode: 9, fin: false, payload: Buffer.alloc(1), mask: 'none' }], 1002],
    ['stray continuation', false, [{ opcode: 0, fin: true, payload: Buffer.alloc(1), mask: 'none' }], 1002],
    [
      'message inside a message',
      false,
      [
        { opcode: 2, fin: false, payload: Buffer.alloc(1), mask: 'none' },
        { opcode: 2, fin: true, payload: Buffer.alloc(1), mask: 'none' },
      ],
      1002,
    ],
    ['one-byte close', false, [{ opcode: 8, fin: true, payload: Buffer.alloc(1), mask: 'none' }], 1002],
    ['oversized message', false, [{ opcode: 2, fin: true, payload: Buffer.alloc(1001), mask: 'none' }], 1009],
    [
      'oversized fragmented message',
      false,
      [
        { opcode: 2, fin: false, payload: Buffer.alloc(600), mask: 'none' },
        { opcode: 0, fin: true, payload: Buffer.alloc(600), mask: 'none' },
      ],
      1009,
    ],
  ];
  it.each(violations)(
    'rejects a %s, once, and parses nothing after it',
    (_name, fromClient, frames, code) => {
      const [r, seen] = reader(fromClient, 1000);
      const good: Encoded = {
        opcode: 2,
        fin: true,
        payload: Buffer.from('after'),
        mask: fromClient ? 'zero' : 'none',
      };
      feed(r, wire([...frames, good]), [1, 3, 7]);
      expect(seen.violations).toHaveLength(1);
      expect(seen.violations[0]!.code).toBe(code);
      expect(seen.messages).toEqual([]);
    },
  );
});

describe('WsFrameReader bounds on one message', () => {
  it.each([
    ['1-byte', 1025],
    ['empty', 0],
  ])('refuses a message in 1025 %s fragments with 1008 and says why', (_name, size) => {
    const [r, seen] = reader(true);
    feed(r, wire(fragments(pattern(size), MAX_FRAGMENTS_PER_MESSAGE + 1, 'random')), []);
    expect(seen.violations).toEqual([
      { message: 'message in more than 1024 fragments', code: WsCloseCode.POLICY },
    ]);
    expect(seen.messages).toEqual([]);
  });

  it('accepts a message in exactly 1024 fragments, and counts afresh for the next message', () => {
    const [r, seen] = reader(true);
    const a = pattern(5000, 1);
    const b = pattern(3000, 2);
    feed(r, wire([...fragments(a, 1024, 'random'), ...fragments(b, 1024, 'random')]), []);
    expect(seen.violations).toEqual([]);
    expect(seen.messages).toEqual([a, b]);
  });

  it('takes its fragment limit from the options', () => {
    const [r, seen] = reader(false, 1000, 2);
    feed(r, wire([...fragments(pattern(10), 2, 'none'), ...fragments(pattern(10), 3, 'none')]), []);
    expect(seen.messages).toHaveLength(1);
    expect(seen.violations).toEqual([{ message: 'message in more than 2 fragments', code: 1008 }]);
  });

  it('delivers a message trickled one byte per read intact, joined into one buffer about its size', () => {
    const payload = pattern(300);
    const [r, seen] = reader(true);
    trickle(r, wire([{ opcode: WsOpcode.BINARY, fin: true, payload, mask: 'random' }]), 1);
    expect(seen.violations).toEqual([]);
    expect(seen.messages).toEqual([payload]);
    // 300 pieces (each a view pinning the 8 KiB pool slab of its read) became one buffer of its own.
    expect(seen.parts[0]).toHaveLength(1);
    expect(seen.parts[0]![0]!.buffer.byteLength).toBeLessThanOrEqual(4096);
  });

  it('joins a large trickled, fragmented message without holding much more than it', () => {
    const payload = pattern(1_000_000, 3);
    const [r, seen] = reader(true);
    trickle(r, wire(fragments(payload, 40, 'random')), 100);
    expect(seen.violations).toEqual([]);
    expect(seen.messages[0]!.equals(payload)).toBe(true);
    expect(seen.parts[0]).toHaveLength(1);
    // Grown by doubling: at most twice what had arrived when it last grew.
    expect(seen.parts[0]![0]!.buffer.byteLength).toBeLessThanOrEqual(2 * payload.length);
  });

  it('keeps a message that spans up to MAX_MESSAGE_PIECES reads as views, and joins it from the next', () => {
    for (const reads of [MAX_MESSAGE_PIECES, MAX_MESSAGE_PIECES + 1]) {
      const [r, seen] = reader(false);
      const payload = pattern(reads * 10);
      const bytes = wire([{ opcode: WsOpcode.BINARY, fin: true, payload, mask: 'none' }]);
      const headerLength = bytes.length - payload.length;
      r.push(Buffer.from(bytes.subarray(0, headerLength)));
      trickle(r, bytes.subarray(headerLength), 10);
      expect(seen.messages).toEqual([payload]);
      expect(seen.parts[0]).toHaveLength(reads === MAX_MESSAGE_PIECES ? reads : 1);
    }
  });

  it('reads any message however finely it is cut, in a bounded number of parts', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({ size: fc.integer({ min: 0, max: 5000 }), fragments: fc.integer({ min: 1, max: 80 }) }),
          { minLength: 1, maxLength: 4 },
        ),
        fc.array(fc.nat(), { maxLength: 1500, size: 'max' }),
        (specs, cuts) => {
          const messages = specs.map((spec, i) => pattern(spec.size, i));
          const frames = specs.flatMap((spec, i) => fragments(messages[i]!, spec.fragments, 'random'));
          const [r, seen] = reader(true);
          feed(r, wire(frames), cuts);
          expect(seen.violations).toEqual([]);
          expect(seen.messages.length).toBe(messages.length);
          seen.messages.forEach((m, i) => expect(m.equals(messages[i]!)).toBe(true));
        },
      ),
      { numRuns: 60 },
    );
  });
});

/** What masking means, byte by byte: the reference the maskers are checked against. */
function maskedReference(data: Uint8Array, key: Uint8Array, keyPos: number): Buffer {
  return Buffer.from(data.map((byte, i) => byte ^ key[(keyPos + i) % 4]!));
}

/** Cut points of [0, length): sorted, deduplicated, the ends included. */
function bounds(length: number, cuts: number[]): number[] {
  return [...new Set([0, ...cuts.map((c) => c % (length + 1)), length])].sort((a, b) => a - b);
}

const maskers: [string, Masker | undefined][] = [
  ['JS', jsMasker],
  ['native (bufferutil)', nativeMasker],
];

describe('maskers', () => {
  for (const [name, masker] of maskers) {
    it.skipIf(masker === undefined)(
      `${name}: mask then unmask, at any alignment, key position and split into pieces, gives back the input`,
      () => {
        const m = masker!;
        fc.assert(
          fc.property(
            fc.uint8Array({ maxLength: 700, size: 'max' }),
            fc.uint8Array({ minLength: 4, maxLength: 4 }),
            fc.oneof(fc.nat(), fc.integer({ min: 2 ** 32, max: 2 ** 45 })),
            fc.nat({ max: 7 }),
            fc.nat({ max: 7 }),
            fc.array(fc.nat(), { maxLength: 8, size: 'max' }),
            fc.array(fc.nat(), { maxLength: 8, size: 'max' }),
            (data, keyBytes, keyPos, sourceAt, outAt, maskCuts, unmaskCuts) => {
              const key = Buffer.from(keyBytes);
              // Sources and outputs at every alignment, with guard bytes around them.
              const source = Buffer.alloc(sourceAt + data.length + 8, 0xee).subarray(
                sourceAt,
                sourceAt + data.length,
              );
              source.set(data);
              const outBacking = Buffer.alloc(outAt + data.length + 8, 0xee);
              const cut = bounds(data.length, maskCuts);
              for (let k = 0; k + 1 < cut.length; k++) {
                m.mask(
                  source.subarray(cut[k], cut[k + 1]),
                  key,
                  keyPos + cut[k]!,
                  outBacking,
                  outAt + cut[k]!,
                );
              }
              expect(source.equals(data)).toBe(true); // the source is left as it is
              const out = outBacking.subarray(outAt, outAt + data.length);
              expect(out.equals(maskedReference(data, key, keyPos))).toBe(true);
              const uncut = bounds(data.length, unmaskCuts);
              for (let k = 0; k + 1 < uncut.length; k++) {
                m.unmask(out.subarray(uncut[k], uncut[k + 1]), key, keyPos + uncut[k]!);
              }
              expect(out.equals(data)).toBe(true);
              // Nothing outside the pieces was touched.
              const guards = [outBacking.subarray(0, outAt), outBacking.subarray(outAt + data.length)];
              expect(guards.every((g) => g.every((byte) => byte === 0xee))).toBe(true);
            },
          ),
          { numRuns: 500 },
        );
      },
    );

    it.skipIf(masker === undefined)(`${name}: refuses to write past the end of its output`, () => {
      const out = Buffer.alloc(16);
      expect(() => masker!.mask(Buffer.alloc(100), Buffer.from([1, 2, 3, 4]), 0, out, 0)).toThrow(RangeError);
      expect(() => masker!.mask(Buffer.alloc(10), Buffer.from([1, 2, 3, 4]), 0, out, 7)).toThrow(RangeError);
      expect(out).toEqual(Buffer.alloc(16));
    });
  }

  // bufferutil ships binaries for these: if it does not load here, the install is broken (the JS fallback is
  // correct but about ten times slower on large frames).
  const glibc = (process.report.getReport() as { header?: { glibcVersionRuntime?: string } }).header
    ?.glibcVersionRuntime;
  const shipped =
    (process.platform === 'linux' && process.arch === 'x64' && glibc !== undefined) ||
    (process.platform === 'darwin' && (process.arch === 'x64' || process.arch === 'arm64')) ||
    (process.platform === 'win32' && process.arch === 'x64');
  it.runIf(shipped)('loads the native masker where bufferutil ships a binary', () => {
    expect(nativeMasker).toBeDefined();
  });
});

describe('frame writing', () => {
  it('writes headers a reader (and so a standard peer) accepts, at every length boundary', () => {
    for (const length of [0, 1, 125, 126, 127, 65_535, 65_536, 1_000_000]) {
      for (const masked of [false, true]) {
        const [header, at] = frameHeader(WsOpcode.BINARY, length, masked, length);
        expect(header.length).toBe(at + length);
        const payload = pattern(length);
        if (masked) writeMasked(header, at, at, payload);
        else payload.copy(header, at);
        const [r, seen] = reader(masked);
        r.push(header);
        expect(seen.violations).toEqual([]);
        expect(seen.messages[0]?.equals(payload)).toBe(true);
      }
    }
  });

  it('masks every client frame with a fresh random key, drawn from a pool that refills', () => {
    const keys: number[] = [];
    // 1100 keys: more than one 4 KiB pool of randomness holds.
    for (let i = 0; i < 1100; i++) {
      const [header, at] = frameHeader(WsOpcode.BINARY, 10, true, 0);
      keys.push(header.readUInt32BE(at - 4));
    }
    expect(keys.filter((k) => k === 0)).toHaveLength(0);
    // Of 1100 random 32-bit keys two are alike about once in 7000 runs, three alike practically never.
    expect(new Set(keys).size).toBeGreaterThanOrEqual(keys.length - 1);
  });

  it('writes a client frame from pieces, masked as one payload, and leaves the pieces as they were', () => {
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ maxLength: 400, size: 'max' }), { maxLength: 6 }),
        fc.array(fc.nat()),
        (arrays, cuts) => {
          const pieces = arrays.map((a) => Buffer.from(a));
          const payload = Buffer.concat(pieces);
          const [frame, at] = frameHeader(WsOpcode.BINARY, payload.length, true, payload.length);
          let offset = at;
          for (const piece of pieces) offset = writeMasked(frame, at, offset, piece);
          expect(offset).toBe(frame.length);
          expect(Buffer.concat(pieces).equals(payload)).toBe(true);
          const key = frame.subarray(at - 4, at);
          expect(frame.subarray(at).equals(maskedReference(payload, key, 0))).toBe(true);
          const [r, seen] = reader(true);
          feed(r, frame, cuts);
          expect(seen.messages).toHaveLength(1);
          expect(seen.messages[0]!.equals(payload)).toBe(true);
        },
      ),
    );
  });

  it('writes control frames and cuts a long close reason on a character boundary', () => {
    const reason = 'é'.repeat(100); // 200 bytes of UTF-8
    const payload = closePayload(1002, reason);
    expect(payload.length).toBeLessThanOrEqual(125);
    const [r, seen] = reader(true);
    const frame = controlFrame(WsOpcode.CLOSE, payload, true);
    expect(frame.subarray(frame.length - payload.length)).not.toEqual(payload); // masked on the wire
    r.push(frame);
    expect(seen.closes[0]!.code).toBe(1002);
    expect(seen.closes[0]!.reason).toBe('é'.repeat(61));
  });
});
