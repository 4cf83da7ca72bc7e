/**
 * RFC 6455 framing, written for the data path: messages are handed on as the pieces of the socket reads they
 * arrived in (views, never joined), and frames are written as a small header plus the caller's buffers (never
 * copied). A 64 KiB DATA message usually spans two socket reads; joining them, as general WebSocket libraries do,
 * cost the hub a copy and a fresh 64 KiB buffer per message, and most of its garbage-collection time.
 *
 * What is supported is what agents and hub need: binary messages (fragmented or not), ping/pong, close. No
 * extensions (RSV bits must be 0), no text messages. Masking follows the RFC: a client masks every frame (agents
 * use a zero key, so the receiver has nothing to undo), a server never does; a masked frame from any other client
 * is unmasked in place, in the buffer it arrived in.
 */

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
  TOO_BIG: 1009,
  INTERNAL: 1011,
} as const;

/** A control frame's payload is at most 125 bytes (RFC 6455 §5.5). */
const MAX_CONTROL_PAYLOAD = 125;
/** Close reason: 125 bytes minus the 2-byte code. */
export const MAX_CLOSE_REASON_BYTES = MAX_CONTROL_PAYLOAD - 2;

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
  private mask: Buffer | undefined;
  private maskOffset = 0;
  private controlParts: Buffer[] = [];

  // current (possibly fragmented) data message
  private messageParts: Buffer[] = [];
  private messageLength = 0;
  private inMessage = false;

  constructor(
    private readonly events: WsReaderEvents,
    private readonly opts: WsReaderOptions,
  ) {}

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
        if (this.mask) {
          unmask(piece, this.mask, this.maskOffset);
          this.maskOffset += n;
        }
        if (this.opcode >= WsOpcode.CLOSE) this.controlParts.push(piece);
        else this.messageParts.push(piece);
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
    if ((b0 & 0x70) !== 0) return this.violate('reserved bits set (no extension was negotiated)', 1002);
    const fin = (b0 & 0x80) !== 0;
    const opcode = b0 & 0x0f;
    const masked = (b1 & 0x80) !== 0;
    if (masked !== this.opts.expectMasked) {
      return this.violate(masked ? 'masked frame from the server' : 'unmasked frame from a client', 1002);
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
      if (high > 0x1f_ffff) return this.violate('frame length out of range', 1009);
    }
    if (masked) {
      const key = h.subarray(next, next + 4);
      this.mask = key[0]! | key[1]! | key[2]! | key[3]! ? Buffer.from(key) : undefined;
    } else {
      this.mask = undefined;
    }
    this.maskOffset = 0;

    if (opcode >= WsOpcode.CLOSE) {
      if (opcode > WsOpcode.PONG) return this.violate(`unknown opcode ${opcode}`, 1002);
      if (!fin) return this.violate('fragmented control frame', 1002);
      if (length > MAX_CONTROL_PAYLOAD) return this.violate('control frame over 125 bytes', 1002);
    } else if (opcode === WsOpcode.TEXT) {
      return this.violate('text message (this endpoint speaks binary frames only)', 1003);
    } else if (opcode === WsOpcode.BINARY) {
      if (this.inMessage) return this.violate('new message inside a fragmented one', 1002);
      this.inMessage = true;
    } else if (opcode === WsOpcode.CONTINUATION) {
      if (!this.inMessage) return this.violate('continuation frame without a message', 1002);
    } else {
      return this.violate(`unknown opcode ${opcode}`, 1002);
    }
    if (opcode < WsOpcode.CLOSE) {
      this.messageLength += length;
      if (this.messageLength > this.opts.maxMessage) {
        return this.violate(`message over ${this.opts.maxMessage} bytes`, 1009);
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
    const parts = this.messageParts;
    const length = this.messageLength;
    this.messageParts = [];
    this.messageLength = 0;
    this.inMessage = false;
    this.events.onMessage(parts, length);
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
        if (payload.length === 1) return this.violate('close frame with a 1-byte payload', 1002);
        const code = payload.length >= 2 ? payload.readUInt16BE(0) : WsCloseCode.NO_STATUS;
        const reason = payload.length > 2 ? payload.toString('utf8', 2) : '';
        this.state = State.FAILED; // nothing may follow a close frame
        this.events.onClose(code, reason);
      }
    }
  }

  private violate(message: string, closeCode: number): void {
    this.state = State.FAILED;
    this.messageParts = [];
    this.controlParts = [];
    this.events.onViolation(message, closeCode);
  }
}

/** Size of a frame header from its second byte: 2, plus 2 or 8 for extended lengths, plus 4 for a mask key. */
function headerSize(b1: number): number {
  const len = b1 & 0x7f;
  return 2 + (len === 126 ? 2 : len === 127 ? 8 : 0) + (b1 & 0x80 ? 4 : 0);
}

/** XORs `piece` with the 4-byte key, starting at key position `offset` (pieces of one frame continue the key). */
function unmask(piece: Buffer, key: Buffer, offset: number): void {
  for (let i = 0; i < piece.length; i++) piece[i]! ^= key[(offset + i) & 3]!;
}

/**
 * Writes a frame header (FIN set) for a payload of `length` bytes into a new buffer with `extra` bytes of room
 * after it, and returns [buffer, offset of the room]. `masked` adds a zero masking key (client frames).
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
  // A zero key: XOR with it is the identity, so the payload goes out as it is.
  if (masked) buf.writeUInt32BE(0, size - 4);
  return [buf, size];
}

/** A whole control frame (ping, pong, close), payload copied in. */
export function controlFrame(opcode: number, payload: Buffer, masked: boolean): Buffer {
  const [buf, at] = frameHeader(opcode, payload.length, masked, payload.length);
  payload.copy(buf, at);
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
