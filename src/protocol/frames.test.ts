import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ConnectError, ErrorCodes } from '../api/errors.js';
import {
  decodeFrame,
  encodeDataFrame,
  encodeFrame,
  FrameType,
  HEADER_SIZE,
  MAX_FRAME_PAYLOAD,
  readFrameType,
  readStreamId,
  ResetCode,
  writeStreamId,
  type Frame,
} from './frames.js';

const streamId = fc.integer({ min: 1, max: 0xffff_ffff });
const u32 = fc.integer({ min: 1, max: 0xffff_ffff });
const u16 = fc.integer({ min: 0, max: 0xffff });
const bytes = (min: number, max: number) =>
  fc.uint8Array({ minLength: min, maxLength: max }).map((a) => Buffer.from(a));
// JSON round trip: plain objects of JSON values (no -0, no undefined, which JSON cannot carry).
const jsonObject: fc.Arbitrary<Record<string, unknown>> = fc.dictionary(
  fc.string(),
  fc.jsonValue().map((v): unknown => JSON.parse(JSON.stringify(v))),
);

const anyFrame: fc.Arbitrary<Frame> = fc.oneof(
  fc.record({ type: fc.constant(FrameType.DATA as const), streamId, payload: bytes(1, 4096) }),
  fc.record({ type: fc.constant(FrameType.WINDOW as const), streamId, increment: u32 }),
  fc.record({ type: fc.constant(FrameType.OPEN as const), streamId, window: u32, meta: jsonObject }),
  fc.record({ type: fc.constant(FrameType.ACCEPT as const), streamId }),
  fc.record({ type: fc.constant(FrameType.FIN as const), streamId }),
  fc.record({ type: fc.constant(FrameType.RST as const), streamId, code: u16, reason: fc.string() }),
  fc.record({
    type: fc.constant(FrameType.PING as const),
    streamId: fc.constant(0 as const),
    data: bytes(8, 8),
  }),
  fc.record({
    type: fc.constant(FrameType.PONG as const),
    streamId: fc.constant(0 as const),
    data: bytes(8, 8),
  }),
  fc.record({
    type: fc.constant(FrameType.CONTROL as const),
    streamId: fc.constant(0 as const),
    msg: jsonObject,
  }),
  fc.record({
    type: fc.constant(FrameType.GOAWAY as const),
    streamId: fc.constant(0 as const),
    code: u16,
    reason: fc.string(),
  }),
);

function expectProtocolError(fn: () => unknown, message?: RegExp): void {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ConnectError);
    expect((err as ConnectError).code).toBe(ErrorCodes.PROTOCOL_ERROR);
    if (message) expect((err as ConnectError).message).toMatch(message);
    return;
  }
  throw new Error('expected a protocol error');
}

function frame(type: number, id: number, payload: Buffer | number[] = [], flags = 0): Buffer {
  const p = Buffer.from(payload);
  const buf = Buffer.alloc(HEADER_SIZE + p.length);
  buf.writeUInt8(type, 0);
  buf.writeUInt8(flags, 1);
  buf.writeUInt32BE(id, 2);
  p.copy(buf, HEADER_SIZE);
  return buf;
}

describe('frames', () => {
  it('round-trips every frame type', () => {
    fc.assert(
      fc.property(anyFrame, (f) => {
        const decoded = decodeFrame(encodeFrame(f));
        expect(decoded).toEqual(f);
      }),
      { numRuns: 2000 },
    );
  });

  it('decodes random bytes to a valid frame or a PROTOCOL_ERROR, never anything else', () => {
    // Bias towards plausible headers (valid types, id 0 or not) so deeper checks are exercised too.
    const plausible = fc
      .tuple(
        fc.integer({ min: 0, max: 12 }),
        fc.constantFrom(0, 0, 0, 1),
        fc.constantFrom(0, 1, 7),
        bytes(0, 64),
      )
      .map(([type, flags, id, payload]) => frame(type, id, payload, flags));
    fc.assert(
      fc.property(fc.oneof(bytes(0, 64), plausible), (buf) => {
        let decoded: Frame;
        try {
          decoded = decodeFrame(buf);
        } catch (err) {
          expect(err).toBeInstanceOf(ConnectError);
          expect((err as ConnectError).code).toBe(ErrorCodes.PROTOCOL_ERROR);
          return;
        }
        // Whatever decoded re-encodes to the same bytes (modulo JSON whitespace, so compare decoded forms).
        expect(decodeFrame(encodeFrame(decoded))).toEqual(decoded);
      }),
      { numRuns: 5000 },
    );
  });

  it('returns DATA payloads as a view of the message, not a copy', () => {
    const msg = encodeDataFrame(5, Buffer.from('hello'));
    const f = decodeFrame(msg);
    if (f.type !== FrameType.DATA) throw new Error('not DATA');
    expect(f.payload.buffer).toBe(msg.buffer);
    expect(f.payload.byteOffset).toBe(msg.byteOffset + HEADER_SIZE);
    msg[HEADER_SIZE] = 'j'.charCodeAt(0);
    expect(f.payload.toString()).toBe('jello');
  });

  it('rewrites stream ids in place', () => {
    const msg = encodeFrame({ type: FrameType.RST, streamId: 3, code: ResetCode.CANCEL, reason: 'x' });
    writeStreamId(msg, 0xfffffffe);
    expect(readStreamId(msg)).toBe(0xfffffffe);
    expect(readFrameType(msg)).toBe(FrameType.RST);
    expect(decodeFrame(msg)).toMatchObject({ streamId: 0xfffffffe, reason: 'x' });
  });

  const cases: [string, Buffer, RegExp][] = [
    ['empty message', Buffer.alloc(0), /shorter than the 6-byte header/],
    ['truncated header', Buffer.from([0, 0, 0, 0, 1]), /5 bytes, shorter/],
    ['unknown type', frame(10, 0), /unknown frame type 10/],
    ['unknown flags', frame(FrameType.FIN, 1, [], 0x80), /unknown flags 0x80/],
    ['empty DATA', frame(FrameType.DATA, 1), /DATA payload is 0 bytes, expected at least 1/],
    ['DATA on stream 0', frame(FrameType.DATA, 0, [1]), /DATA frame on stream 0/],
    ['PING on a stream', frame(FrameType.PING, 3, Buffer.alloc(8)), /PING frame on stream 3/],
    ['short WINDOW', frame(FrameType.WINDOW, 1, [0, 0, 1]), /WINDOW payload is 3 bytes, expected 4/],
    ['long WINDOW', frame(FrameType.WINDOW, 1, [0, 0, 0, 1, 0]), /expected 4/],
    ['zero WINDOW', frame(FrameType.WINDOW, 1, [0, 0, 0, 0]), /increment is 0/],
    ['OPEN without window', frame(FrameType.OPEN, 1, [0, 1]), /expected at least 4/],
    ['OPEN zero window', frame(FrameType.OPEN, 1, [0, 0, 0, 0, ...Buffer.from('{}')]), /window is 0/],
    ['OPEN invalid UTF-8', frame(FrameType.OPEN, 1, [0, 0, 1, 0, 0xff, 0xfe]), /not valid UTF-8/],
    ['OPEN invalid JSON', frame(FrameType.OPEN, 1, [0, 0, 1, 0, ...Buffer.from('{x')]), /not valid JSON/],
    ['OPEN JSON array', frame(FrameType.OPEN, 1, [0, 0, 1, 0, ...Buffer.from('[1]')]), /not a JSON object/],
    ['CONTROL null', frame(FrameType.CONTROL, 0, Buffer.from('null')), /not a JSON object/],
    ['CONTROL empty', frame(FrameType.CONTROL, 0), /not valid JSON/],
    ['ACCEPT with payload', frame(FrameType.ACCEPT, 2, [1]), /expected 0/],
    ['FIN with payload', frame(FrameType.FIN, 2, [1]), /expected 0/],
    ['RST without code', frame(FrameType.RST, 2, [1]), /expected at least 2/],
    ['RST invalid UTF-8 reason', frame(FrameType.RST, 2, [0, 1, 0xc3]), /RST reason is not valid UTF-8/],
    ['short PING', frame(FrameType.PING, 0, Buffer.alloc(7)), /PING payload is 7 bytes, expected 8/],
    ['long PONG', frame(FrameType.PONG, 0, Buffer.alloc(9)), /expected 8/],
    ['GOAWAY on a stream', frame(FrameType.GOAWAY, 1, [0, 0]), /GOAWAY frame on stream 1/],
    [
      'oversized DATA',
      frame(FrameType.DATA, 1, Buffer.alloc(MAX_FRAME_PAYLOAD + 1)),
      /over the 1048576-byte limit/,
    ],
  ];
  it.each(cases)('rejects %s', (_name, buf, message) => {
    expectProtocolError(() => decodeFrame(buf), message);
  });

  it('accepts a DATA payload of exactly MAX_FRAME_PAYLOAD', () => {
    const f = decodeFrame(encodeDataFrame(1, Buffer.alloc(MAX_FRAME_PAYLOAD, 7)));
    expect(f.type === FrameType.DATA && f.payload.length).toBe(MAX_FRAME_PAYLOAD);
  });

  it('refuses to encode frames the peer would reject', () => {
    expectProtocolError(() => encodeFrame({ type: FrameType.DATA, streamId: 1, payload: Buffer.alloc(0) }));
    expectProtocolError(() => encodeFrame({ type: FrameType.FIN, streamId: 0 }));
    expectProtocolError(() => encodeFrame({ type: FrameType.WINDOW, streamId: 1, increment: 0 }));
  });
});
