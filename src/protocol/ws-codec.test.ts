import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as wsLibrary from 'ws';
import { closePayload, controlFrame, frameHeader, WsFrameReader, WsOpcode } from './ws-codec.js';

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
  pings: Buffer[];
  closes: { code: number; reason: string }[];
  violations: { message: string; code: number }[];
}

function reader(expectMasked: boolean, maxMessage = 2_000_000): [WsFrameReader, Seen] {
  const seen: Seen = { messages: [], pings: [], closes: [], violations: [] };
  const r = new WsFrameReader(
    {
      onMessage(parts, length) {
        const joined = Buffer.concat(parts);
        expect(joined.length).toBe(length);
        seen.messages.push(joined);
      },
      onPing: (p) => seen.pings.push(Buffer.from(p)),
      onPong: () => undefined,
      onClose: (code, reason) => seen.closes.push({ code, reason }),
      onViolation: (message, code) => seen.violations.push({ message, code }),
    },
    { expectMasked, maxMessage },
  );
  return [r, seen];
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

describe('frame writing', () => {
  it('writes headers a reader (and so a standard peer) accepts, at every length boundary', () => {
    for (const length of [0, 1, 125, 126, 127, 65_535, 65_536, 1_000_000]) {
      for (const masked of [false, true]) {
        const [header, at] = frameHeader(WsOpcode.BINARY, length, masked, 0);
        expect(header.length).toBe(at);
        const payload = Buffer.alloc(length, 3);
        const [r, seen] = reader(masked);
        r.push(Buffer.concat([header, payload]));
        expect(seen.violations).toEqual([]);
        expect(seen.messages[0]?.length).toBe(length);
      }
    }
  });

  it('writes control frames and cuts a long close reason on a character boundary', () => {
    const reason = 'é'.repeat(100); // 200 bytes of UTF-8
    const payload = closePayload(1002, reason);
    expect(payload.length).toBeLessThanOrEqual(125);
    const [r, seen] = reader(true);
    r.push(controlFrame(WsOpcode.CLOSE, payload, true));
    expect(seen.closes[0]!.code).toBe(1002);
    expect(seen.closes[0]!.reason).toBe('é'.repeat(61));
  });
});
