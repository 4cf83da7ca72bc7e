/**
 * RFC 6455 framing, written for the data path: messages are handed on as the pieces of the socket reads they
 * arrived in (views, never joined), and frames are written as a small header plus the caller's buffers (never
 * copied). A 64 KiB DATA message usually spans two socket reads; joining them, as general WebSocket libraries do,
 * cost the hub a copy and a fresh 64 KiB buffer per message, and most of its garbage-collection time.
 *
 * What is supported is what agents and hub need: binary messages (fragmented or not), ping/pong, close. No
 * extensions (RSV bits must be 0), no text messages. Masking follows the RFC: a client masks every frame with a
 * fresh random key (§5.3), a server never does. A client frame is therefore written as one new buffer, the payload
 * masked into it (the callers' buffers are never touched: they may be reused); a masked frame received is unmasked
 * in place, in the socket read it arrived in, so the receive side still copies nothing.
 *
 * A message is collected as at most MAX_MESSAGE_PIECES views: a peer trickling one (a million 1-byte TCP segments
 * or fragments) would otherwise make us hold a view, and the socket read behind it, per byte.
 */
import { randomFillSync } from 'node:crypto';
import { createRequire } from 'node:module';

export const WsOpcode = {
  CONTINUATION: 0x0,
  TEXT: 0x1,
  BINARY: 0x2,
  CLOSE: 0x8,
  PING: 0x9,
  PONG: 0xa,
} as const;

/** RFC 6455 close codes used here. */
export const WsCloseCode = {
  NORMAL: 1000,
  GOING_AWAY: 1001,
  PROTOCOL_ERROR: 1002,
  UNSUPPORTED_DATA: 1003,
  NO_STATUS: 1005,
  ABNORMAL: 1006,
  POLICY: 1008,
  TOO_BIG: 1009,
  INTERNAL: 1011,
} as const;
export type WsCloseCode = (typeof WsCloseCode)[keyof typeof WsCloseCode];

/** A control frame's payload is at most 125 bytes (RFC 6455 §5.5). */
const MAX_CONTROL_PAYLOAD = 125;
/** Close reason: 125 bytes minus the 2-byte code. */
export const MAX_CLOSE_REASON_BYTES = MAX_CONTROL_PAYLOAD - 2;
/**
 * Frames one message may arrive in (the default of WsReaderOptions.maxFragments). Our agents send one; a
 * million 1-byte fragments is an attack on the receiver's memory and time, not a way to send a message.
 */
export const MAX_FRAGMENTS_PER_MESSAGE = 1024;
/**
 * Views a message is collected in before the reader joins them into one buffer and copies the rest of the
 * message into it. A 1 MiB message spans about 16 socket reads of 64 KiB, or 65 over TLS (a read per 16 KiB
 * record), so only a trickle (many tiny reads or fragments) ever gets here; from then on the memory held is about
 * the message's size, not a read (its ArrayBuffer and a view of it) per piece.
 */
export const MAX_MESSAGE_PIECES = 128;

export interface WsReaderEvents {
  /** A complete binary message, as views into the received chunks (in order); `length` is their total size. */
  onMessage(parts: Buffer[], length: number): void;
  onPing(payload: Buffer): void;
  onPong(payload: Buffer): void;
  /** The peer's close frame; code is 1005 when it carried none. */
  onClose(code: number, reason: string): void;
  /** The peer broke the framing rules: nothing more is parsed. `closeCode` is what to answer with. */
  onViolation(message: string, closeCode: number): void;
}

export interface WsReaderOptions {
  /** true on the server: RFC 6455 requires every client frame to be masked, and no server frame to be. */
  expectMasked: boolean;
  /** Largest message (sum of its fragments) accepted; beyond it: violation 1009. */
  maxMessage: number;
  /** Most frames one message may arrive in; beyond it: violation 1008. MAX_FRAGMENTS_PER_MESSAGE if absent. */
  maxFragments?: number;
}

const enum State {
  HEADER,
  PAYLOAD,
  FAILED,
}

/**
 * Incremental frame parser: push() every chunk read from the socket. Chunks are modified in place only to undo a
 * non-zero mask, and pieces of them are handed to onMessage, so give it buffers nobody else reuses (socket reads).
 */
export class WsFrameReader {
  private state = State.HEADER;
  /** Header bytes that straddled two chunks. */
  private readonly headerBuf = Buffer.allocUnsafe(14);
  private headerHave = 0;

  // current frame
  private fin = false;
  private opcode = 0;
  private remaining = 0;
  /** The frame is masked with a non-zero key, held in maskKey (copied: headerBuf is reused). */
  private masked = false;
  private readonly maskKey = Buffer.alloc(4);
  private maskOffset = 0;
  private controlParts: Buffer[] = [];

  // current (possibly fragmented) data message
  private messageParts: Buffer[] = [];
  /** Sum of the lengths of its frames so far, as their headers declared them. */
  private messageLength = 0;
  private messageFrames = 0;
  private inMessage = false;
  /** Past MAX_MESSAGE_PIECES pieces: the buffer the message is copied into instead, and the bytes it holds. */
  private joined: Buffer | undefined;
  private joinedLength = 0;
  private readonly maxFragments: number;

  constructor(
    private readonly events: WsReaderEvents,
    private readonly opts: WsReaderOptions,
  ) {
    this.maxFragments = opts.maxFragments ?? MAX_FRAGMENTS_PER_MESSAGE;
  }

  get failed(): boolean {
    return this.state === State.FAILED;
  }

  push(chunk: Buffer): void {
    let pos = 0;
    const end = chunk.length;
    while (pos < end) {
      if (this.state === State.HEADER) {
        pos = this.readHeader(chunk, pos);
      } else if (this.state === State.PAYLOAD) {
        const n = Math.min(this.remaining, end - pos);
        const piece = chunk.subarray(pos, pos + n);
        pos += n;
        this.remaining -= n;
        if (this.masked) {
          masker.unmask(piece, this.maskKey, this.maskOffset);
          this.maskOffset += n;
        }
        // A control payload is at most 125 bytes, so at most 125 pieces: no need to bound those.
        if (this.opcode >= WsOpcode.CLOSE) this.controlParts.push(piece);
        else this.collect(piece);
        if (this.remaining === 0) this.endFrame();
      } else {
        return;
      }
    }
  }

  /** Consumes header bytes from chunk[pos..]; returns the new position. */
  private readHeader(chunk: Buffer, pos: number): number {
    if (this.headerHave === 0) {
      const available = chunk.length - pos;
      if (available >= 2) {
        const need = headerSize(chunk[pos + 1]!);
        if (available >= need) {
          this.parseHeader(chunk, pos);
          return pos + need;
        }
      }
      chunk.copy(this.headerBuf, 0, pos);
      this.headerHave = available;
      return chunk.length;
    }
    // A header that straddles chunks: collect it in headerBuf (at most 14 bytes).
    let at = pos;
    if (this.headerHave === 1) {
      this.headerBuf[1] = chunk[at++]!;
      this.headerHave = 2;
    }
    const need = headerSize(this.headerBuf[1]!);
    const take = Math.min(need - this.headerHave, chunk.length - at);
    chunk.copy(this.headerBuf, this.headerHave, at, at + take);
    this.headerHave += take;
    at += take;
    if (this.headerHave === need) {
      this.headerHave = 0;
      this.parseHeader(this.headerBuf, 0);
    }
    return at;
  }

  private parseHeader(h: Buffer, at: number): void {
    const b0 = h[at]!;
    const b1 = h[at + 1]!;
    if ((b0 & 0x70) !== 0)
      return this.violate('reserved bits set (no extension was negotiated)', WsCloseCode.PROTOCOL_ERROR);
    const fin = (b0 & 0x80) !== 0;
    const opcode = b0 & 0x0f;
    const masked = (b1 & 0x80) !== 0;
    if (masked !== this.opts.expectMasked) {
      return this.violate(
        masked ? 'masked frame from the server' : 'unmasked frame from a client',
        WsCloseCode.PROTOCOL_ERROR,
      );
    }
    let length = b1 & 0x7f;
    let next = at + 2;
    if (length === 126) {
      length = h.readUInt16BE(next);
      next += 2;
    } else if (length === 127) {
      const high = h.readUInt32BE(next);
      length = high * 0x1_0000_0000 + h.readUInt32BE(next + 4);
      next += 8;
      if (high > 0x1f_ffff) return this.violate('frame length out of range', WsCloseCode.TOO_BIG);
    }
    // A zero key (which our agents sent before they used random ones) leaves nothing to undo.
    this.masked = masked && (h[next]! | h[next + 1]! | h[next + 2]! | h[next + 3]!) !== 0;
    if (this.masked) h.copy(this.maskKey, 0, next, next + 4);
    this.maskOffset = 0;

    if (opcode >= WsOpcode.CLOSE) {
      if (opcode > WsOpcode.PONG) return this.violate(`unknown opcode ${opcode}`, WsCloseCode.PROTOCOL_ERROR);
      if (!fin) return this.violate('fragmented control frame', WsCloseCode.PROTOCOL_ERROR);
      if (length > MAX_CONTROL_PAYLOAD)
        return this.violate('control frame over 125 bytes', WsCloseCode.PROTOCOL_ERROR);
    } else if (opcode === WsOpcode.TEXT) {
      return this.violate(
        'text message (this endpoint speaks binary frames only)',
        WsCloseCode.UNSUPPORTED_DATA,
      );
    } else if (opcode === WsOpcode.BINARY) {
      if (this.inMessage)
        return this.violate('new message inside a fragmented one', WsCloseCode.PROTOCOL_ERROR);
      this.inMessage = true;
    } else if (opcode === WsOpcode.CONTINUATION) {
      if (!this.inMessage)
        return this.violate('continuation frame without a message', WsCloseCode.PROTOCOL_ERROR);
    } else {
      return this.violate(`unknown opcode ${opcode}`, WsCloseCode.PROTOCOL_ERROR);
    }
    if (opcode < WsOpcode.CLOSE) {
      if (++this.messageFrames > this.maxFragments) {
        return this.violate(`message in more than ${this.maxFragments} fragments`, WsCloseCode.POLICY);
      }
      this.messageLength += length;
      if (this.messageLength > this.opts.maxMessage) {
        return this.violate(`message over ${this.opts.maxMessage} bytes`, WsCloseCode.TOO_BIG);
      }
    }
    this.fin = fin;
    this.opcode = opcode;
    this.remaining = length;
    this.state = State.PAYLOAD;
    if (length === 0) this.endFrame();
  }

  private endFrame(): void {
    this.state = State.HEADER;
    if (this.opcode >= WsOpcode.CLOSE) {
      const parts = this.controlParts;
      this.controlParts = [];
      this.control(parts.length === 1 ? parts[0]! : Buffer.concat(parts));
      return;
    }
    if (!this.fin) return;
    const parts = this.joined ? [this.joined.subarray(0, this.joinedLength)] : this.messageParts;
    const length = this.messageLength;
    this.resetMessage();
    this.events.onMessage(parts, length);
  }

  /**
   * Keeps `piece` of the message as a view; past MAX_MESSAGE_PIECES, copies it into `joined` instead (the pieces
   * kept so far first, when it is new). That grows by doubling, so a trickled message is copied about twice in
   * all, and holds at most about twice the bytes received: never the whole declared length before the peer has
   * sent it.
   */
  private collect(piece: Buffer): void {
    let joined = this.joined;
    if (joined === undefined && this.messageParts.length < MAX_MESSAGE_PIECES) {
      this.messageParts.push(piece);
      return;
    }
    const need = this.joinedLength + (joined ? 0 : sumLengths(this.messageParts)) + piece.length;
    if (joined === undefined || need > joined.length) {
      // messageLength counts the whole current frame: the message is at least that long. Not from Node's pool: a
      // small one would pin a shared 8 KiB slab for as long as the session holds the message.
      const grown = Buffer.allocUnsafeSlow(Math.min(this.messageLength, Math.max(2 * need, 4096)));
      if (joined) joined.copy(grown, 0, 0, this.joinedLength);
      else for (const part of this.messageParts) this.joinedLength += part.copy(grown, this.joinedLength);
      this.messageParts = [];
      this.joined = joined = grown;
    }
    this.joinedLength += piece.copy(joined, this.joinedLength);
  }

  private resetMessage(): void {
    this.messageParts = [];
    this.messageLength = 0;
    this.messageFrames = 0;
    this.inMessage = false;
    this.joined = undefined;
    this.joinedLength = 0;
  }

  private control(payload: Buffer): void {
    switch (this.opcode) {
      case WsOpcode.PING:
        this.events.onPing(payload);
        return;
      case WsOpcode.PONG:
        this.events.onPong(payload);
        return;
      default: {
        if (payload.length === 1)
          return this.violate('close frame with a 1-byte payload', WsCloseCode.PROTOCOL_ERROR);
        const code = payload.length >= 2 ? payload.readUInt16BE(0) : WsCloseCode.NO_STATUS;
        const reason = payload.length > 2 ? payload.toString('utf8', 2) : '';
        this.state = State.FAILED; // nothing may follow a close frame
        this.events.onClose(code, reason);
      }
    }
  }

  private violate(message: string, closeCode: WsCloseCode): void {
    this.state = State.FAILED;
    this.resetMessage();
    this.controlParts = [];
    this.events.onViolation(message, closeCode);
  }
}

/** Size of a frame header from its second byte: 2, plus 2 or 8 for extended lengths, plus 4 for a mask key. */
function headerSize(b1: number): number {
  const len = b1 & 0x7f;
  return 2 + (len === 126 ? 2 : len === 127 ? 8 : 0) + (b1 & 0x80 ? 4 : 0);
}

function sumLengths(parts: readonly Buffer[]): number {
  let n = 0;
  for (const part of parts) n += part.length;
  return n;
}

/**
 * XOR with a 4-byte masking key. `keyPos` is the position in the frame's payload of the first byte: key byte
 * `keyPos & 3` applies to it, so the pieces of one frame continue the key where the previous one stopped.
 */
export interface Masker {
  /** Writes `source` XOR key into `out` at `at` (which must have room). `source` is left as it is. */
  mask(source: Buffer, key: Buffer, keyPos: number, out: Buffer, at: number): void;
  /** XORs `buf` in place. */
  unmask(buf: Buffer, key: Buffer, keyPos: number): void;
}

/** The native masker works from here on; below, a JS loop costs less than the call into the addon. */
const NATIVE_FROM = 64;
/** The JS masker XORs 32-bit words from here on; below, bytes (a typed-array view costs an allocation). */
const WORDS_FROM = 32;

const keyWordBytes = new Uint8Array(4);
/** The key as a 32-bit word in the machine's byte order, read through keyWordBytes. */
const keyWord = new Int32Array(keyWordBytes.buffer);

function checkRoom(length: number, out: Buffer, at: number): void {
  // The native masker writes wherever it is told, and the JS one XORs through the whole ArrayBuffer (a pool slab
  // holds other buffers): a frame too small for its payload must fail, not overwrite memory.
  if (!(at >= 0 && at + length <= out.length)) {
    throw new RangeError(`no room for ${length} bytes at ${at} in a buffer of ${out.length}`);
  }
}

/** XORs buf[start..end) in place, whole aligned words where it can; key byte (keyPos & 3) goes to buf[start]. */
function xorInPlace(buf: Buffer, start: number, end: number, key: Buffer, keyPos: number): void {
  const shift = keyPos - start; // the key byte for buf[i] is key[(i + shift) & 3]
  let i = start;
  if (end - start >= WORDS_FROM) {
    const base = buf.byteOffset;
    while (((base + i) & 3) !== 0) {
      buf[i]! ^= key[(i + shift) & 3]!;
      i++;
    }
    const r = i + shift;
    keyWordBytes[0] = key[r & 3]!;
    keyWordBytes[1] = key[(r + 1) & 3]!;
    keyWordBytes[2] = key[(r + 2) & 3]!;
    keyWordBytes[3] = key[(r + 3) & 3]!;
    const word = keyWord[0]!;
    const words = (end - i) >>> 2;
    const view = new Int32Array(buf.buffer, base + i, words);
    for (let w = 0; w < words; w++) view[w]! ^= word;
    i += words << 2;
  }
  for (; i < end; i++) buf[i]! ^= key[(i + shift) & 3]!;
}

/** Pure JS: correct for any alignment and key position; the fallback when bufferutil does not load. */
export const jsMasker: Masker = {
  mask(source, key, keyPos, out, at) {
    checkRoom(source.length, out, at);
    source.copy(out, at);
    xorInPlace(out, at, at + source.length, key, keyPos);
  },
  unmask(buf, key, keyPos) {
    xorInPlace(buf, 0, buf.length, key, keyPos);
  },
};

interface BufferUtil {
  mask: (source: Buffer, mask: Buffer, output: Buffer, offset: number, length: number) => void;
  unmask: (buffer: Buffer, mask: Buffer) => void;
}

/** bufferutil's native code (the ws authors' addon, prebuilt for common platforms), or undefined. */
export const nativeMasker: Masker | undefined = loadNativeMasker();

function loadNativeMasker(): Masker | undefined {
  let lib: BufferUtil;
  try {
    lib = createRequire(import.meta.url)('bufferutil') as BufferUtil;
  } catch {
    return undefined;
  }
  // Without a binary for this platform bufferutil falls back to its own byte loop: ours is faster then.
  if (!Function.prototype.toString.call(lib.mask).includes('[native code]')) return undefined;
  // bufferutil always starts at key byte 0: for a piece that starts elsewhere, hand it the key rotated.
  const rotated = Buffer.alloc(4);
  const keyAt = (key: Buffer, keyPos: number): Buffer => {
    const r = keyPos & 3;
    if (r === 0) return key;
    for (let i = 0; i < 4; i++) rotated[i] = key[(r + i) & 3]!;
    return rotated;
  };
  return {
    mask(source, key, keyPos, out, at) {
      checkRoom(source.length, out, at);
      lib.mask(source, keyAt(key, keyPos), out, at, source.length);
    },
    unmask(buf, key, keyPos) {
      lib.unmask(buf, keyAt(key, keyPos));
    },
  };
}

/** What frames are masked and unmasked with: native for all but short pieces, when it loaded. */
const masker: Masker =
  nativeMasker === undefined
    ? jsMasker
    : {
        mask(source, key, keyPos, out, at) {
          (source.length < NATIVE_FROM ? jsMasker : nativeMasker).mask(source, key, keyPos, out, at);
        },
        unmask(buf, key, keyPos) {
          (buf.length < NATIVE_FROM ? jsMasker : nativeMasker).unmask(buf, key, keyPos);
        },
      };

/** Masking keys are cut from this much randomness at a time: one call into crypto per 1024 frames, not per frame. */
const KEY_POOL_SIZE = 4096;
const keyPool = Buffer.allocUnsafeSlow(KEY_POOL_SIZE);
let keyPoolAt = KEY_POOL_SIZE;

/** Writes a fresh random masking key at buf[at..at+4) (RFC 6455 §5.3: unpredictable, new for every frame). */
function writeKey(buf: Buffer, at: number): void {
  if (keyPoolAt === KEY_POOL_SIZE) {
    randomFillSync(keyPool);
    keyPoolAt = 0;
  }
  buf[at] = keyPool[keyPoolAt]!;
  buf[at + 1] = keyPool[keyPoolAt + 1]!;
  buf[at + 2] = keyPool[keyPoolAt + 2]!;
  buf[at + 3] = keyPool[keyPoolAt + 3]!;
  keyPoolAt += 4;
}

/**
 * Writes a frame header (FIN set) for a payload of `length` bytes into a new buffer with `extra` bytes of room
 * after it, and returns [buffer, offset of the room]. `masked` (client frames) adds a fresh random masking key, in
 * the 4 bytes before the room: fill the room with writeMasked, then.
 */
export function frameHeader(
  opcode: number,
  length: number,
  masked: boolean,
  extra: number,
): [buf: Buffer, offset: number] {
  const ext = length < 126 ? 0 : length < 0x1_0000 ? 2 : 8;
  const size = 2 + ext + (masked ? 4 : 0);
  // allocUnsafe draws small buffers from Node's shared pool: no allocation of its own per frame.
  const buf = Buffer.allocUnsafe(size + extra);
  buf[0] = 0x80 | opcode;
  const maskBit = masked ? 0x80 : 0;
  if (ext === 0) {
    buf[1] = maskBit | length;
  } else if (ext === 2) {
    buf[1] = maskBit | 126;
    buf.writeUInt16BE(length, 2);
  } else {
    buf[1] = maskBit | 127;
    buf.writeUInt32BE(Math.floor(length / 0x1_0000_0000), 2);
    buf.writeUInt32BE(length >>> 0, 6);
  }
  if (masked) writeKey(buf, size - 4);
  return [buf, size];
}

/** A copy of the key of a frame being written (the masker wants a buffer that starts at the key). */
const frameKey = Buffer.alloc(4);

/**
 * Copies `source` into `frame` (from frameHeader, masked, payload starting at `payloadAt`) at `at`, masked with
 * the frame's key; returns the position after it. `source` itself is left as it is.
 */
export function writeMasked(frame: Buffer, payloadAt: number, at: number, source: Buffer): number {
  frameKey[0] = frame[payloadAt - 4]!;
  frameKey[1] = frame[payloadAt - 3]!;
  frameKey[2] = frame[payloadAt - 2]!;
  frameKey[3] = frame[payloadAt - 1]!;
  masker.mask(source, frameKey, at - payloadAt, frame, at);
  return at + source.length;
}

/** A whole control frame (ping, pong, close), payload copied in (masked, for a client). */
export function controlFrame(opcode: number, payload: Buffer, masked: boolean): Buffer {
  const [buf, at] = frameHeader(opcode, payload.length, masked, payload.length);
  if (masked) writeMasked(buf, at, at, payload);
  else payload.copy(buf, at);
  return buf;
}

/** A close frame's payload: the code and a reason cut to fit 123 bytes of UTF-8 (never inside a character). */
export function closePayload(code: number, reason: string): Buffer {
  let text = Buffer.from(reason, 'utf8');
  if (text.length > MAX_CLOSE_REASON_BYTES) {
    let cut = MAX_CLOSE_REASON_BYTES;
    while (cut > 0 && (text[cut]! & 0xc0) === 0x80) cut--; // back off to a character boundary
    text = text.subarray(0, cut);
  }
  const buf = Buffer.allocUnsafe(2 + text.length);
  buf.writeUInt16BE(code, 0);
  text.copy(buf, 2);
  return buf;
}
