/**
 * A raw client of the hub's wire format, for hostile-peer tests: the WebSocket upgrade is done by hand on a
 * net socket, every frame sent is masked here (random key, XOR done locally), and anything at all can be put
 * on the wire (broken WebSocket framing, fragments, frames that do not decode). What the hub sends back is
 * parsed with WsFrameReader + decodeFrame and collected in `frames`.
 */
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { connect as netConnect, type Socket } from 'node:net';
import {
  AgentHeaders,
  CONNECT_PATH,
  FrameType,
  MAX_FRAME_SIZE,
  PROTOCOL_VERSION,
  decodeFrame,
  encodeFrame,
  type Frame,
  type JsonObject,
} from '../../src/protocol/frames.js';
import { WsFrameReader, WsOpcode } from '../../src/protocol/ws-codec.js';

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

export interface RawPeerOptions {
  apiKey: string;
  agentId: string;
  /** x-agent-secret; the one registerAgent received for agentId when absent. */
  agentSecret?: string;
  /** x-session-kind; 'agent' when absent. */
  kind?: string;
  /** Extra or overriding request headers (a value of '' drops a default header). */
  headers?: Record<string, string>;
  /** x-connect-protocol; PROTOCOL_VERSION when absent. */
  protocol?: string;
  /** Upgrade path; CONNECT_PATH when absent. */
  path?: string;
  timeoutMs?: number;
}

export interface UpgradeResponse {
  /** HTTP status of the answer (101 on success), 0 when the hub closed without one. */
  status: number;
  /** The whole response head and body as text (up to the close, or the head only for a 101). */
  text: string;
  /** The response body (after the blank line). */
  body: string;
  headers: Record<string, string>;
}

export interface CloseInfo {
  code: number;
  reason: string;
}

/** The secrets registerAgent received, by agent id (the upgrade sends the agent's own unless told otherwise). */
const agentSecrets = new Map<string, string>();

/** Registers an agent at the hub (POST /v1/agents, like `connect up` does). */
export async function registerAgent(
  hubUrl: string,
  apiKey: string,
  label: string,
): Promise<{ agentId: string; agentSecret: string }> {
  const res = await fetch(`${hubUrl}/v1/agents`, {
    method: 'POST',
    headers: { 'x-api-key': apiKey, 'content-type': 'application/json' },
    body: JSON.stringify({ label }),
  });
  const text = await res.text();
  if (res.status < 200 || res.status > 299) {
    throw new Error(`POST /v1/agents answered ${res.status}: ${text}`);
  }
  const agent = JSON.parse(text) as { id?: unknown; secret?: unknown };
  if (typeof agent.id !== 'string') throw new Error(`POST /v1/agents gave no agent id: ${text}`);
  if (typeof agent.secret !== 'string') throw new Error(`POST /v1/agents gave no agent secret: ${text}`);
  agentSecrets.set(agent.id, agent.secret);
  return { agentId: agent.id, agentSecret: agent.secret };
}

/** The hub answers GET /health with 200. */
export async function health(hubUrl: string, timeoutMs = 5000): Promise<boolean> {
  try {
    const res = await fetch(`${hubUrl}/health`, { signal: AbortSignal.timeout(timeoutMs) });
    await res.arrayBuffer();
    return res.status === 200;
  } catch {
    return false;
  }
}

/** Resident set size of a process, in bytes (VmRSS of /proc/<pid>/status; Linux only). */
export function hubRss(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
  if (!m) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(m[1]) * 1024;
}

/** A WebSocket frame header (client side: always masked) for `length` payload bytes, with the key appended. */
export function wsHeader(opcode: number, length: number, fin: boolean, key: Buffer): Buffer {
  const ext = length < 126 ? 0 : length < 0x1_0000 ? 2 : 8;
  const h = Buffer.allocUnsafe(2 + ext + 4);
  h[0] = (fin ? 0x80 : 0) | opcode;
  if (ext === 0) {
    h[1] = 0x80 | length;
  } else if (ext === 2) {
    h[1] = 0x80 | 126;
    h.writeUInt16BE(length, 2);
  } else {
    h[1] = 0x80 | 127;
    h.writeUInt32BE(Math.floor(length / 0x1_0000_0000), 2);
    h.writeUInt32BE(length >>> 0, 6);
  }
  key.copy(h, 2 + ext);
  return h;
}

/** XORs `payload` into a new buffer with the 4-byte key. */
export function maskBytes(payload: Buffer, key: Buffer): Buffer {
  const out = Buffer.allocUnsafe(payload.length);
  for (let i = 0; i < payload.length; i++) out[i] = payload[i]! ^ key[i & 3]!;
  return out;
}

/**
 * One complete masked WebSocket frame (FIN set unless told otherwise) with a random, non-zero-ish key.
 * Exported so generators can build many messages and write them in one go.
 */
export function wsMessage(payload: Buffer, opcode: number = WsOpcode.BINARY, fin = true): Buffer {
  const key = randomBytes(4);
  return Buffer.concat([wsHeader(opcode, payload.length, fin, key), maskBytes(payload, key)]);
}

function buildRequest(hubUrl: string, opts: RawPeerOptions, wsKey: string): string {
  const url = new URL(hubUrl);
  const headers: Record<string, string> = {
    Host: url.host,
    Upgrade: 'websocket',
    Connection: 'Upgrade',
    'Sec-WebSocket-Key': wsKey,
    'Sec-WebSocket-Version': '13',
    [AgentHeaders.apiKey]: opts.apiKey,
    [AgentHeaders.agentId]: opts.agentId,
    [AgentHeaders.agentSecret]: opts.agentSecret ?? agentSecrets.get(opts.agentId) ?? '',
    [AgentHeaders.protocol]: opts.protocol ?? String(PROTOCOL_VERSION),
    [AgentHeaders.kind]: opts.kind ?? 'agent',
  };
  for (const [name, value] of Object.entries(opts.headers ?? {})) {
    const existing = Object.keys(headers).find((h) => h.toLowerCase() === name.toLowerCase());
    if (existing) delete headers[existing];
    if (value !== '') headers[name] = value;
  }
  let text = `GET ${opts.path ?? CONNECT_PATH} HTTP/1.1\r\n`;
  for (const [name, value] of Object.entries(headers)) text += `${name}: ${value}\r\n`;
  return `${text}\r\n`;
}

function parseHead(head: string): { status: number; headers: Record<string, string> } {
  const lines = head.split('\r\n');
  const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(lines[0] ?? '')?.[1] ?? 0);
  const headers: Record<string, string> = {};
  for (const line of lines.slice(1)) {
    const i = line.indexOf(':');
    if (i > 0) headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
  }
  return { status, headers };
}

/**
 * Sends the upgrade and reads the answer. Resolves with the socket still open after a 101 (plus the bytes that
 * followed the response head), or with the whole response once the hub closed the connection.
 */
function doUpgrade(
  hubUrl: string,
  opts: RawPeerOptions,
): Promise<{ response: UpgradeResponse; socket: Socket; rest: Buffer; wsKey: string }> {
  const url = new URL(hubUrl);
  const wsKey = randomBytes(16).toString('base64');
  return new Promise((resolve, reject) => {
    const socket = netConnect({ host: url.hostname, port: Number(url.port || 80) });
    socket.setNoDelay(true);
    let buf = Buffer.alloc(0);
    let done = false;
    const timer = setTimeout(() => {
      finish(new Error(`upgrade to ${hubUrl} timed out`));
      socket.destroy();
    }, opts.timeoutMs ?? 10_000);
    const finish = (err: Error | undefined, value?: Parameters<typeof resolve>[0]): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('end', onEnd);
      socket.off('close', onEnd);
      socket.off('error', onError);
      if (err) reject(err);
      else resolve(value!);
    };
    const result = (): UpgradeResponse => {
      const text = buf.toString('utf8');
      const at = text.indexOf('\r\n\r\n');
      const head = at >= 0 ? text.slice(0, at) : text;
      const { status, headers } = parseHead(head);
      return { status, text, body: at >= 0 ? text.slice(at + 4) : '', headers };
    };
    const onData = (chunk: Buffer): void => {
      buf = Buffer.concat([buf, chunk]);
      const at = buf.indexOf('\r\n\r\n');
      if (at < 0) return;
      const head = buf.subarray(0, at).toString('utf8');
      if (parseHead(head).status === 101) {
        const rest = Buffer.from(buf.subarray(at + 4));
        buf = buf.subarray(0, at + 4);
        socket.pause();
        finish(undefined, { response: result(), socket, rest, wsKey });
      }
    };
    const onEnd = (): void => {
      finish(undefined, { response: result(), socket, rest: Buffer.alloc(0), wsKey });
    };
    const onError = (err: Error): void => {
      if (buf.length > 0) onEnd();
      else finish(err);
    };
    socket.on('data', onData);
    socket.on('end', onEnd);
    socket.on('close', onEnd);
    socket.on('error', onError);
    socket.once('connect', () => socket.write(buildRequest(hubUrl, opts, wsKey)));
  });
}

type Waiter = { predicate: (f: Frame) => boolean; resolve: (f: Frame) => void };

export class RawPeer {
  /** Every decoded frame the hub sent, in order. */
  readonly frames: Frame[] = [];
  /** Messages from the hub that did not decode (should stay empty: the hub must speak the protocol). */
  readonly undecodable: { bytes: Buffer; error: string }[] = [];
  /** Resolves when the connection ends: the hub's close frame code and reason, or 1006 without one. */
  readonly closed: Promise<CloseInfo>;
  /** Pings (WebSocket level) answered so far. */
  wsPings = 0;
  /** Keep at most this many frames in `frames` (older ones are dropped; 0 = keep none). */
  maxKept = 100_000;
  /** Called for each decoded frame, before waiters are checked. */
  onFrame: ((f: Frame) => void) | undefined;
  /**
   * Answer the hub's protocol PINGs (frame type 6) with a PONG, as agents do; otherwise the hub's liveness check
   * ends a quiet session after 15 s. Turn off to play a peer that never answers.
   */
  autoPong = true;

  private waiters: Waiter[] = [];
  private closeInfo: CloseInfo | undefined;
  private resolveClosed!: (c: CloseInfo) => void;
  private readonly reader: WsFrameReader;
  private ended = false;

  private constructor(
    readonly socket: Socket,
    readonly response: UpgradeResponse,
  ) {
    this.closed = new Promise((r) => (this.resolveClosed = r));
    this.reader = new WsFrameReader(
      {
        onMessage: (parts) => this.onMessage(parts.length === 1 ? parts[0]! : Buffer.concat(parts)),
        onPing: (payload) => {
          this.wsPings++;
          this.writeRaw(wsMessage(Buffer.from(payload), WsOpcode.PONG));
        },
        onPong: () => undefined,
        onClose: (code, reason) => {
          this.closeInfo ??= { code, reason };
        },
        onViolation: (message) => {
          this.closeInfo ??= { code: 1006, reason: `hub broke the framing: ${message}` };
          socket.destroy();
        },
      },
      { expectMasked: false, maxMessage: MAX_FRAME_SIZE * 2 },
    );
    socket.on('data', (chunk: Buffer) => this.reader.push(chunk));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      this.ended = true;
      const info = this.closeInfo ?? { code: 1006, reason: '' };
      this.resolveClosed(info);
    });
  }

  /** Upgrades a connection at /v1/connect; throws unless the hub answers 101 with the right accept value. */
  static async connect(hubUrl: string, opts: RawPeerOptions): Promise<RawPeer> {
    const { response, socket, rest, wsKey } = await doUpgrade(hubUrl, opts);
    if (response.status !== 101) {
      socket.destroy();
      throw new Error(`upgrade refused: ${response.status}\n${response.text}`);
    }
    const accept = createHash('sha1')
      .update(wsKey + GUID)
      .digest('base64');
    if (response.headers['sec-websocket-accept'] !== accept) {
      socket.destroy();
      throw new Error(`bad Sec-WebSocket-Accept in\n${response.text}`);
    }
    const peer = new RawPeer(socket, response);
    if (rest.length > 0) peer.reader.push(rest);
    socket.resume();
    return peer;
  }

  /** Sends the upgrade request and returns the hub's answer (for refused upgrades); the socket is closed. */
  static async upgradeRaw(hubUrl: string, opts: RawPeerOptions): Promise<UpgradeResponse> {
    const { response, socket } = await doUpgrade(hubUrl, opts);
    socket.destroy();
    return response;
  }

  /** True once the socket closed. */
  get isClosed(): boolean {
    return this.ended;
  }

  private onMessage(bytes: Buffer): void {
    let frame: Frame;
    try {
      frame = decodeFrame(Buffer.from(bytes));
    } catch (err) {
      this.undecodable.push({ bytes: Buffer.from(bytes), error: String(err) });
      return;
    }
    if (frame.type === FrameType.PING && this.autoPong) {
      this.send({ type: FrameType.PONG, streamId: 0, data: frame.data });
    }
    this.onFrame?.(frame);
    if (this.maxKept > 0) {
      this.frames.push(frame);
      if (this.frames.length > this.maxKept) this.frames.splice(0, this.frames.length - this.maxKept);
    }
    const matched = this.waiters.filter((w) => w.predicate(frame));
    if (matched.length > 0) {
      this.waiters = this.waiters.filter((w) => !matched.includes(w));
      for (const w of matched) w.resolve(frame);
    }
  }

  /**
   * The first frame (already received, or to come) matching `predicate`. Rejects on timeout or when the
   * connection closes first.
   */
  waitFor<F extends Frame = Frame>(predicate: (f: Frame) => boolean, timeoutMs = 5000): Promise<F> {
    const seen = this.frames.find(predicate);
    if (seen) return Promise.resolve(seen as F);
    return new Promise<F>((resolve, reject) => {
      const waiter: Waiter = {
        predicate,
        resolve: (f) => {
          clearTimeout(timer);
          resolve(f as F);
        },
      };
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(new Error(`no matching frame within ${timeoutMs} ms (${this.frames.length} frames received)`));
      }, timeoutMs);
      this.waiters.push(waiter);
      void this.closed.then((c) => {
        if (!this.waiters.includes(waiter)) return;
        // Let frames that arrived with the close be matched first.
        setImmediate(() => {
          if (!this.waiters.includes(waiter)) return;
          this.waiters = this.waiters.filter((w) => w !== waiter);
          clearTimeout(timer);
          reject(new Error(`connection closed (${c.code} ${c.reason}) before a matching frame`));
        });
      });
    });
  }

  /** The CONTROL reply carrying this rid. */
  waitForReply(rid: unknown, timeoutMs = 5000): Promise<Extract<Frame, { type: FrameType.CONTROL }>> {
    return this.waitFor((f) => f.type === FrameType.CONTROL && f.msg.rid === rid, timeoutMs);
  }

  /** Writes bytes on the socket as they are; false when the socket is gone or its buffer is full. */
  writeRaw(bytes: Buffer): boolean {
    if (this.socket.destroyed || this.socket.writableEnded) return false;
    return this.socket.write(bytes);
  }

  /** Arbitrary raw bytes on the socket (broken framing, hand-made fragments). */
  sendRawWs(bytes: Buffer): boolean {
    return this.writeRaw(bytes);
  }

  /** One encoded frame (any bytes) as one masked WebSocket binary message. */
  sendFrame(buf: Buffer): boolean {
    return this.writeRaw(wsMessage(buf));
  }

  /** Many encoded frames, each its own WebSocket message, in one socket write. */
  sendFrames(bufs: Buffer[]): boolean {
    return this.writeRaw(Buffer.concat(bufs.map((b) => wsMessage(b))));
  }

  /** One frame as a fragmented binary message: a BINARY frame then CONTINUATIONs of `fragmentSize` bytes. */
  sendFragmented(frame: Buffer, fragmentSize: number): boolean {
    const size = Math.max(1, fragmentSize);
    const pieces: Buffer[] = [];
    for (let at = 0; at < frame.length || at === 0; at += size) {
      const piece = frame.subarray(at, at + size);
      const last = at + size >= frame.length;
      pieces.push(wsMessage(piece, at === 0 ? WsOpcode.BINARY : WsOpcode.CONTINUATION, last));
      if (frame.length === 0) break;
    }
    return this.writeRaw(Buffer.concat(pieces));
  }

  /** A decoded frame, encoded (encodeFrame validates it: use sendFrame for frames that must not decode). */
  send(frame: Frame): boolean {
    return this.sendFrame(encodeFrame(frame));
  }

  control(msg: JsonObject): boolean {
    return this.send({ type: FrameType.CONTROL, streamId: 0, msg });
  }

  open(streamId: number, window: number, meta: JsonObject): boolean {
    return this.send({ type: FrameType.OPEN, streamId, window, meta });
  }

  data(streamId: number, payload: Buffer | string): boolean {
    return this.send({
      type: FrameType.DATA,
      streamId,
      payload: typeof payload === 'string' ? Buffer.from(payload) : payload,
    });
  }

  window(streamId: number, increment: number): boolean {
    return this.send({ type: FrameType.WINDOW, streamId, increment });
  }

  accept(streamId: number): boolean {
    return this.send({ type: FrameType.ACCEPT, streamId });
  }

  fin(streamId: number): boolean {
    return this.send({ type: FrameType.FIN, streamId });
  }

  rst(streamId: number, code = 0, reason = ''): boolean {
    return this.send({ type: FrameType.RST, streamId, code, reason });
  }

  /** A protocol PING (frame type 6) with these 8 bytes (random when absent). */
  ping(data: Buffer = randomBytes(8)): boolean {
    return this.send({ type: FrameType.PING, streamId: 0, data });
  }

  goaway(code = 0, reason = ''): boolean {
    return this.send({ type: FrameType.GOAWAY, streamId: 0, code, reason });
  }

  /** A WebSocket close frame (masked), code and reason as given. */
  wsClose(code = 1000, reason = ''): boolean {
    const text = Buffer.from(reason, 'utf8');
    const payload = Buffer.allocUnsafe(2 + text.length);
    payload.writeUInt16BE(code, 0);
    text.copy(payload, 2);
    return this.writeRaw(wsMessage(payload, WsOpcode.CLOSE));
  }

  /** Stop reading the socket (a peer that does not read: the hub's writes back up). */
  pauseReading(): void {
    this.socket.pause();
  }

  resumeReading(): void {
    this.socket.resume();
  }

  /** Resolves once everything written so far was handed to the kernel. */
  drained(): Promise<void> {
    if (this.socket.destroyed || this.socket.writableLength === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const done = (): void => {
        this.socket.off('drain', done);
        this.socket.off('close', done);
        resolve();
      };
      this.socket.once('drain', done);
      this.socket.once('close', done);
    });
  }

  destroy(): void {
    this.socket.destroy();
  }
}
