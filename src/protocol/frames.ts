/**
 * Private Connect wire format (protocol version 1).
 *
 * An agent holds ONE WebSocket to the hub; every WebSocket binary message carries exactly ONE frame. The WebSocket
 * layer already delimits messages, so frames carry no length field: the payload is the rest of the message.
 * There is no JSON or base64 on the data path; a DATA frame is a 6-byte header followed by the raw bytes.
 *
 * Header (HEADER_SIZE = 6 bytes, all integers big-endian):
 *
 *   0        1        2                                  6
 *   +--------+--------+----------------------------------+--------------------
 *   | type   | flags  | streamId (u32)                   | payload ...
 *   +--------+--------+----------------------------------+--------------------
 *
 *   flags     reserved, MUST be 0 (a receiver rejects anything else, so a future flag needs a PROTOCOL_VERSION bump).
 *   streamId  0 is the session itself; streams opened by the WebSocket client ('client' role) are odd, streams opened
 *             by the server (hub) are even, so both ends allocate ids without talking to each other.
 *
 * Frame types and payload layouts (payload = bytes after the header; max MAX_FRAME_PAYLOAD):
 *
 *   DATA    0  id != 0  raw bytes, length >= 1. Consumes that many bytes of the receiver's window.
 *   WINDOW  1  id != 0  [increment u32] (> 0). The receiver's consumer drained bytes: the sender may send that many more.
 *   OPEN    2  id != 0  [window u32 (> 0)][metadata: UTF-8 JSON object, e.g. {"service":"staging-db"}]
 *                       `window` is the opener's initial receive window for this stream (its peer's send credit).
 *   ACCEPT  3  id != 0  empty. The acceptor connected to its target. Informational: the opener may send DATA right
 *                       after OPEN without waiting for it (clients such as Postgres and HTTP speak first).
 *   FIN     4  id != 0  empty. Half-close: the sender will send no more DATA on this stream; the other way still flows.
 *   RST     5  id != 0  [code u16 (ResetCode)][reason: UTF-8]. Abort the stream in both directions.
 *   PING    6  id == 0  8 opaque bytes; the peer answers with a PONG carrying the same 8 bytes.
 *   PONG    7  id == 0  8 opaque bytes, echoed from the PING.
 *   CONTROL 8  id == 0  UTF-8 JSON object: control messages between agent and hub (never on the data path).
 *   GOAWAY  9  id == 0  [code u16 (ResetCode)][reason: UTF-8]. The sender is closing the session.
 *
 * Anything else (short message, unknown type, non-zero flags, wrong stream id for the type, wrong payload length,
 * payload over MAX_FRAME_PAYLOAD, invalid UTF-8, invalid or non-object JSON) is a protocol error: decodeFrame throws
 * a ConnectError with code PROTOCOL_ERROR, and the session that received it closes.
 */
import { ConnectError, ErrorCodes } from '../api/errors.js';

/** Bumped on any incompatible wire change. The hub checks it at the WebSocket upgrade (see ws-transport.ts). */
export const PROTOCOL_VERSION = 1;

/** Path of the agents' WebSocket endpoint. */
export const CONNECT_PATH = '/v1/connect';

/** Headers an agent sends on the upgrade request. */
export const AgentHeaders = {
  apiKey: 'x-api-key',
  agentId: 'x-agent-id',
  /** The secret the hub issued the agent at registration (the id alone is public). */
  agentSecret: 'x-agent-secret',
  protocol: 'x-connect-protocol',
  kind: 'x-session-kind',
} as const;

/** [type u8][flags u8][streamId u32 BE] */
export const HEADER_SIZE = 6;
/** A receiver rejects a frame whose payload is larger than this. */
export const MAX_FRAME_PAYLOAD = 1024 * 1024;
/** Largest WebSocket message a peer may send (the transport's reader refuses larger ones with 1009). */
export const MAX_FRAME_SIZE = HEADER_SIZE + MAX_FRAME_PAYLOAD;
/** A sender splits DATA at this size so one bulk stream cannot hog the link for long between other streams' turns. */
export const DEFAULT_MAX_DATA_CHUNK = 128 * 1024;
/** Per-stream receive window: big enough for one stream to fill a fast link (a 256 KB window starved frp). */
export const DEFAULT_INITIAL_WINDOW = 4 * 1024 * 1024;
/** Largest value a u32 field (window, increment, stream id) can carry. */
export const MAX_U32 = 0xffff_ffff;

export enum FrameType {
  DATA = 0,
  WINDOW = 1,
  OPEN = 2,
  ACCEPT = 3,
  FIN = 4,
  RST = 5,
  PING = 6,
  PONG = 7,
  CONTROL = 8,
  GOAWAY = 9,
}

/** Why a stream was reset (RST payload code). Unknown codes from a newer peer are passed through as numbers. */
export enum ResetCode {
  CANCEL = 0,
  /** The target refused the connection or is unreachable. */
  REFUSED = 1,
  NO_SERVICE = 2,
  OFFLINE = 3,
  SESSION_CLOSED = 4,
  PROTOCOL = 5,
  /** The peer sent DATA beyond the window it was granted. */
  FLOW_CONTROL = 6,
  TIMEOUT = 7,
  INTERNAL = 8,
  /** A bound of the receiver (streams per session, pending opens, bytes before accept…) was crossed. */
  LIMIT = 9,
}

export type JsonObject = Record<string, unknown>;

export type Frame =
  | { type: FrameType.DATA; streamId: number; payload: Buffer }
  | { type: FrameType.WINDOW; streamId: number; increment: number }
  | { type: FrameType.OPEN; streamId: number; window: number; meta: JsonObject }
  | { type: FrameType.ACCEPT; streamId: number }
  | { type: FrameType.FIN; streamId: number }
  | { type: FrameType.RST; streamId: number; code: ResetCode; reason: string }
  | { type: FrameType.PING; streamId: 0; data: Buffer }
  | { type: FrameType.PONG; streamId: 0; data: Buffer }
  | { type: FrameType.CONTROL; streamId: 0; msg: JsonObject }
  | { type: FrameType.GOAWAY; streamId: 0; code: number; reason: string };

export const PING_PAYLOAD_SIZE = 8;
const LAST_FRAME_TYPE: number = FrameType.GOAWAY;

/** Frame types that belong to a stream (id != 0); the rest belong to the session (id == 0). */
export function isStreamFrameType(type: FrameType): boolean {
  return type <= FrameType.RST;
}

function protocolError(message: string): ConnectError {
  return new ConnectError(ErrorCodes.PROTOCOL_ERROR, `protocol error: ${message}`);
}

// ---------------------------------------------------------------------------------------------------------------
// Header helpers: used by the hub to splice a stream between two sessions by rewriting the id in place.

export function readFrameType(buf: Buffer): number {
  return buf.readUInt8(0);
}

export function readStreamId(buf: Buffer): number {
  return buf.readUInt32BE(2);
}

/** Rewrites the stream id of an encoded frame in place (no copy): how spliced frames are forwarded. */
export function writeStreamId(buf: Buffer, id: number): void {
  buf.writeUInt32BE(id, 2);
}

function header(size: number, type: FrameType, streamId: number): Buffer {
  // allocUnsafe: every byte is written below; the pool avoids a malloc per small frame.
  const buf = Buffer.allocUnsafe(HEADER_SIZE + size);
  buf.writeUInt8(type, 0);
  buf.writeUInt8(0, 1);
  buf.writeUInt32BE(streamId, 2);
  return buf;
}

// ---------------------------------------------------------------------------------------------------------------
// Encoding

/** The 6-byte header of a DATA frame: the payload travels beside it in pieces (FrameSink.sendParts). */
export function dataHeader(streamId: number): Buffer {
  return header(0, FrameType.DATA, streamId);
}

/** DATA frame in one allocation: header + one copy of the payload. */
export function encodeDataFrame(streamId: number, payload: Buffer): Buffer {
  const buf = header(payload.length, FrameType.DATA, streamId);
  payload.copy(buf, HEADER_SIZE);
  return buf;
}

function codeAndReason(type: FrameType, streamId: number, code: number, reason: string): Buffer {
  const text = Buffer.from(reason, 'utf8');
  const buf = header(2 + text.length, type, streamId);
  buf.writeUInt16BE(code, HEADER_SIZE);
  text.copy(buf, HEADER_SIZE + 2);
  return buf;
}

/** Encodes any frame. Throws (a bug in the caller, not a peer's fault) if the frame would not decode. */
export function encodeFrame(frame: Frame): Buffer {
  checkStreamId(frame.type, frame.streamId);
  let buf: Buffer;
  switch (frame.type) {
    case FrameType.DATA:
      buf = encodeDataFrame(frame.streamId, frame.payload);
      break;
    case FrameType.WINDOW:
      buf = header(4, frame.type, frame.streamId);
      buf.writeUInt32BE(frame.increment, HEADER_SIZE);
      break;
    case FrameType.OPEN: {
      const json = Buffer.from(JSON.stringify(frame.meta), 'utf8');
      buf = header(4 + json.length, frame.type, frame.streamId);
      buf.writeUInt32BE(frame.window, HEADER_SIZE);
      json.copy(buf, HEADER_SIZE + 4);
      break;
    }
    case FrameType.ACCEPT:
    case FrameType.FIN:
      buf = header(0, frame.type, frame.streamId);
      break;
    case FrameType.RST:
    case FrameType.GOAWAY:
      buf = codeAndReason(frame.type, frame.streamId, frame.code, frame.reason);
      break;
    case FrameType.PING:
    case FrameType.PONG:
      buf = header(PING_PAYLOAD_SIZE, frame.type, 0);
      frame.data.copy(buf, HEADER_SIZE, 0, PING_PAYLOAD_SIZE);
      break;
    case FrameType.CONTROL: {
      const json = Buffer.from(JSON.stringify(frame.msg), 'utf8');
      buf = header(json.length, frame.type, 0);
      json.copy(buf, HEADER_SIZE);
      break;
    }
  }
  // Validate what we produce with the same rules the peer applies, so a bad value fails here, loudly, at the
  // caller, instead of killing the session at the other end. Cheap: frames other than DATA are small.
  if (frame.type !== FrameType.DATA) decodeFrame(buf);
  else if (frame.payload.length === 0 || frame.payload.length > MAX_FRAME_PAYLOAD) decodeFrame(buf);
  return buf;
}

// ---------------------------------------------------------------------------------------------------------------
// Decoding

// fatal: invalid UTF-8 throws instead of being replaced with U+FFFD (a peer sending garbage is a protocol error).
const utf8 = new TextDecoder('utf-8', { fatal: true });

function decodeText(bytes: Buffer, what: string): string {
  try {
    return utf8.decode(bytes);
  } catch {
    throw protocolError(`${what} is not valid UTF-8`);
  }
}

function decodeJsonObject(bytes: Buffer, what: string): JsonObject {
  const text = decodeText(bytes, what);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw protocolError(`${what} is not valid JSON`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw protocolError(`${what} is not a JSON object`);
  }
  return value as JsonObject;
}

function checkStreamId(type: FrameType, streamId: number): void {
  if (isStreamFrameType(type)) {
    if (streamId === 0)
      throw protocolError(`${FrameType[type]} frame on stream 0 (reserved for the session)`);
  } else if (streamId !== 0) {
    throw protocolError(`${FrameType[type]} frame on stream ${streamId} (session frames must use stream 0)`);
  }
}

function expectLength(type: FrameType, actual: number, expected: number): void {
  if (actual !== expected) {
    throw protocolError(`${FrameType[type]} payload is ${actual} bytes, expected ${expected}`);
  }
}

function expectAtLeast(type: FrameType, actual: number, min: number): void {
  if (actual < min)
    throw protocolError(`${FrameType[type]} payload is ${actual} bytes, expected at least ${min}`);
}

/**
 * Decodes one WebSocket message. DATA payloads are returned as a `subarray` view of `buf` (no copy), so the
 * caller must not reuse `buf` while the payload is alive. Throws ConnectError(PROTOCOL_ERROR) on anything malformed.
 */
export function decodeFrame(buf: Buffer): Frame {
  if (buf.length < HEADER_SIZE) {
    throw protocolError(`frame is ${buf.length} bytes, shorter than the ${HEADER_SIZE}-byte header`);
  }
  const rawType = buf.readUInt8(0);
  if (rawType > LAST_FRAME_TYPE) throw protocolError(`unknown frame type ${rawType}`);
  const type: FrameType = rawType;
  const flags = buf.readUInt8(1);
  if (flags !== 0) throw protocolError(`${FrameType[type]} frame has unknown flags 0x${flags.toString(16)}`);
  const streamId = buf.readUInt32BE(2);
  checkStreamId(type, streamId);
  const size = buf.length - HEADER_SIZE;
  if (size > MAX_FRAME_PAYLOAD) {
    throw protocolError(
      `${FrameType[type]} payload is ${size} bytes, over the ${MAX_FRAME_PAYLOAD}-byte limit`,
    );
  }
  const payload = buf.subarray(HEADER_SIZE);

  switch (type) {
    case FrameType.DATA:
      expectAtLeast(type, size, 1);
      return { type: FrameType.DATA, streamId, payload };
    case FrameType.WINDOW: {
      expectLength(type, size, 4);
      const increment = payload.readUInt32BE(0);
      if (increment === 0) throw protocolError('WINDOW increment is 0');
      return { type: FrameType.WINDOW, streamId, increment };
    }
    case FrameType.OPEN: {
      expectAtLeast(type, size, 4);
      const window = payload.readUInt32BE(0);
      if (window === 0) throw protocolError('OPEN window is 0');
      return {
        type: FrameType.OPEN,
        streamId,
        window,
        meta: decodeJsonObject(payload.subarray(4), 'OPEN metadata'),
      };
    }
    case FrameType.ACCEPT:
      expectLength(type, size, 0);
      return { type: FrameType.ACCEPT, streamId };
    case FrameType.FIN:
      expectLength(type, size, 0);
      return { type: FrameType.FIN, streamId };
    case FrameType.RST:
      expectAtLeast(type, size, 2);
      return {
        type: FrameType.RST,
        streamId,
        code: payload.readUInt16BE(0) as ResetCode,
        reason: decodeText(payload.subarray(2), 'RST reason'),
      };
    case FrameType.PING:
    case FrameType.PONG:
      expectLength(type, size, PING_PAYLOAD_SIZE);
      return { type, streamId: 0, data: payload };
    case FrameType.CONTROL:
      return { type: FrameType.CONTROL, streamId: 0, msg: decodeJsonObject(payload, 'CONTROL message') };
    case FrameType.GOAWAY:
      expectAtLeast(type, size, 2);
      return {
        type: FrameType.GOAWAY,
        streamId: 0,
        code: payload.readUInt16BE(0),
        reason: decodeText(payload.subarray(2), 'GOAWAY reason'),
      };
  }
}

/** Truncates a reason so RST/GOAWAY stay small whatever error message produced it (whole characters only). */
export function shortReason(reason: string, maxChars = 200): string {
  return reason.length <= maxChars ? reason : `${reason.slice(0, maxChars - 1)}…`;
}
