import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import type { MuxSession, OpenRequest } from '../protocol/session.js';
import { AgentHeaders, CONNECT_PATH, PROTOCOL_VERSION } from '../protocol/frames.js';
import { openHubLink, UpgradeRefusedError } from '../protocol/ws-handshake.js';
import { attachWebSocket } from '../protocol/ws-transport.js';
import { ConnectError, describeNetworkError, ErrorCodes, isErrorCode, messageOf } from '../api/errors.js';
import { resetCodeOf } from '../api/error-catalogue.js';
import type { ControlRequest, ControlRequestBody, ResultOk } from '../api/control.js';
import { isControlReply } from '../api/control-check.js';

export type LogFn = (level: 'info' | 'warn' | 'error', message: string) => void;

export interface HubConnectionOptions {
  hubUrl: string;
  apiKey: string;
  agentId: string;
  /** The secret issued at registration; absent only for an identity saved before agent credentials. */
  agentSecret?: string | undefined;
  /** What this process is (`agent`, `reach`, `expose`, `proxy`, `dev`): shown in hub logs. */
  kind: string;
  log?: LogFn;
  /** Streams the hub opens towards this agent (it serves exposed services). */
  onOpen?: (req: OpenRequest) => void;
  minBackoffMs?: number;
  maxBackoffMs?: number;
}

/** An upgrade the hub refused for a reason that retrying cannot fix (bad key, unknown agent, old protocol). */
class FatalHandshakeError extends ConnectError {}

/** How long the WebSocket upgrade may take before the attempt counts as failed. */
const HANDSHAKE_TIMEOUT_MS = 10_000;

/** Why the hub refused the upgrade, as one of our errors (fatal when retrying cannot help). */
function refusalError(err: UpgradeRefusedError): ConnectError {
  let message = err.message;
  let bodyCode: unknown;
  try {
    const body = JSON.parse(err.body) as { code?: unknown; message?: unknown };
    if (typeof body.message === 'string') message = body.message;
    bodyCode = body.code;
  } catch {
    // not one of our JSON errors: the status line says enough
  }
  // The hub's own code when its body carries one of ours; the status is only a guess, for anything else.
  const code = isErrorCode(bodyCode)
    ? bodyCode
    : err.status === 401
      ? ErrorCodes.UNAUTHORIZED
      : ErrorCodes.HUB_ERROR;
  if (err.status === 401 || err.status === 403 || err.status === 404 || err.status === 426) {
    return new FatalHandshakeError(
      code,
      `the hub refused this agent: ${message}`,
      'Sign in again with `connect up --api-key <key>`.',
    );
  }
  return new ConnectError(code, `the hub answered ${message}`);
}

/**
 * One process's session with the hub: a WebSocket carrying a MuxSession, reconnected with exponential
 * backoff and full jitter whenever it drops. Each process holds its own session (DESIGN: "sessions, not
 * sockets"), so an agent's `up`, `reach` and `proxy` never displace one another at the hub.
 */
export class HubConnection extends EventEmitter {
  private current: MuxSession | undefined;
  private stopped = false;
  private attempt = 0;
  private retryTimer: NodeJS.Timeout | undefined;
  private socket: Socket | undefined;
  /** Something between us and the hub refused the private-connect fast path: WebSocket from now on. */
  private fastRefused = false;
  private handshake: AbortController | undefined;
  private nextRid = 1;
  private readonly pending = new Map<
    number,
    { resolve: (m: ResultOk) => void; reject: (e: Error) => void }
  >();
  private readonly log: LogFn;

  constructor(private readonly opts: HubConnectionOptions) {
    super();
    this.log = opts.log ?? (() => undefined);
  }

  get session(): MuxSession | undefined {
    return this.current && !this.current.closed ? this.current : undefined;
  }

  /**
   * Connects and keeps reconnecting. Resolves after the first successful connection; rejects when the
   * first attempt fails for good (refused key) or, with `failFast`, for any reason.
   */
  start(failFast = false): Promise<void> {
    return new Promise((resolve, reject) => {
      const onConnected = (): void => {
        this.off('fatal', onFatal);
        this.off('first-failure', onFirstFailure);
        resolve();
      };
      const onFatal = (err: Error): void => {
        this.off('connected', onConnected);
        this.off('first-failure', onFirstFailure);
        reject(err);
      };
      const onFirstFailure = (err: Error): void => {
        if (!failFast) return;
        this.off('connected', onConnected);
        this.off('fatal', onFatal);
        this.stop();
        reject(err);
      };
      this.once('connected', onConnected);
      this.once('fatal', onFatal);
      this.once('first-failure', onFirstFailure);
      this.connect();
    });
  }

  private connect(): void {
    if (this.stopped) return;
    const handshake = new AbortController();
    this.handshake = handshake;
    let failed = false;
    const fail = (err: Error): void => {
      if (failed || this.stopped) return;
      failed = true;
      if (err instanceof FatalHandshakeError) {
        this.stopped = true;
        this.emit('fatal', err);
        return;
      }
      if (this.attempt === 0) this.emit('first-failure', err);
      this.scheduleReconnect(err.message);
    };

    openHubLink(this.opts.hubUrl + CONNECT_PATH, {
      // Once something on the way refused the fast path, this process keeps to WebSocket.
      preferFast: this.fastRefused === false && process.env.CONNECT_TRANSPORT !== 'websocket',
      headers: {
        [AgentHeaders.apiKey]: this.opts.apiKey,
        [AgentHeaders.agentId]: this.opts.agentId,
        ...(this.opts.agentSecret && { [AgentHeaders.agentSecret]: this.opts.agentSecret }),
        [AgentHeaders.protocol]: String(PROTOCOL_VERSION),
        [AgentHeaders.kind]: this.opts.kind,
      },
      timeoutMs: HANDSHAKE_TIMEOUT_MS,
      signal: handshake.signal,
      onFallback: (err) =>
        this.log(
          'info',
          `The private-connect fast path to the hub failed (${messageOf(err)}); using a standard WebSocket`,
        ),
    }).then(
      ({ socket, head, framing }) => {
        if (this.stopped) {
          socket.destroy();
          return;
        }
        this.socket = socket;
        if (framing === 'websocket') this.fastRefused = true;
        const mux = attachWebSocket(socket, head, { role: 'client', label: 'hub' }, framing);
        this.current = mux;
        this.attempt = 0;
        let welcomed = false;
        mux.on('control', (msg: Record<string, unknown>) => {
          if (isControlReply(msg) && msg.op === 'welcome') welcomed = true;
          this.onControl(msg);
        });
        mux.on('open', (req: OpenRequest) => {
          if (this.opts.onOpen) this.opts.onOpen(req);
          else req.reject(resetCodeOf(ErrorCodes.NOT_FOUND), 'this process does not serve any service');
        });
        mux.on('error', (err: unknown) => this.log('warn', `session error: ${messageOf(err)}`));
        mux.on('close', (reason: string) => {
          if (this.current === mux) this.current = undefined;
          // Upgraded, then cut before the hub's first word: something on the way kills unmasked frames.
          if (framing !== 'websocket' && !welcomed) this.fastRefused = true;
          for (const [rid, p] of this.pending) {
            p.reject(new ConnectError(ErrorCodes.HUB_UNREACHABLE, 'the connection to the hub was lost'));
            this.pending.delete(rid);
          }
          this.emit('disconnected', reason);
          if (!failed && !this.stopped) {
            failed = true;
            this.scheduleReconnect(reason || 'connection closed');
          }
        });
        this.emit('connected', mux);
      },
      (err: unknown) => {
        if (err instanceof UpgradeRefusedError) {
          fail(refusalError(err));
          return;
        }
        fail(
          new ConnectError(
            ErrorCodes.HUB_UNREACHABLE,
            `cannot reach the hub at ${this.opts.hubUrl}: ${describeNetworkError(err)}`,
          ),
        );
      },
    );
  }

  private scheduleReconnect(reason: string): void {
    if (this.stopped) return;
    const min = this.opts.minBackoffMs ?? 500;
    const max = this.opts.maxBackoffMs ?? 30_000;
    // Full jitter: many agents losing one hub must not come back in lock step.
    const ceiling = Math.min(max, min * 2 ** Math.min(this.attempt, 16));
    const delay = Math.round(min / 2 + Math.random() * ceiling);
    this.attempt++;
    this.emit('reconnecting', { reason, delayMs: delay, attempt: this.attempt });
    this.retryTimer = setTimeout(() => this.connect(), delay);
  }

  /** Settles the request a `result` answers; anything that is not one of the replies of src/api/control.ts is ignored. */
  private onControl(msg: Record<string, unknown>): void {
    if (!isControlReply(msg) || msg.op !== 'result' || msg.rid === undefined) return;
    const p = this.pending.get(msg.rid);
    if (!p) return;
    this.pending.delete(msg.rid);
    if (msg.ok) p.resolve(msg);
    else p.reject(new ConnectError(isErrorCode(msg.code) ? msg.code : ErrorCodes.HUB_ERROR, msg.message));
  }

  /** Sends a control request on the current session and waits for its result (numbered here: `rid`). */
  request(msg: ControlRequestBody, timeoutMs = 10_000): Promise<ResultOk> {
    const mux = this.session;
    if (!mux) return Promise.reject(new ConnectError(ErrorCodes.HUB_UNREACHABLE, 'not connected to the hub'));
    const rid = this.nextRid++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(rid);
        reject(new ConnectError(ErrorCodes.TIMEOUT, 'the hub did not answer in time'));
      }, timeoutMs);
      this.pending.set(rid, {
        resolve: (m) => {
          clearTimeout(timer);
          resolve(m);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      const request: ControlRequest = { ...msg, rid };
      mux.sendControl(request);
    });
  }

  /** The live session, waiting up to `timeoutMs` for a reconnect when there is none right now. */
  waitForSession(timeoutMs: number): Promise<MuxSession> {
    const mux = this.session;
    if (mux) return Promise.resolve(mux);
    if (this.stopped)
      return Promise.reject(new ConnectError(ErrorCodes.HUB_UNREACHABLE, 'the hub connection is closed'));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.off('connected', onConnected);
        reject(new ConnectError(ErrorCodes.HUB_UNREACHABLE, 'the hub is not reachable right now'));
      }, timeoutMs);
      const onConnected = (m: MuxSession): void => {
        clearTimeout(timer);
        resolve(m);
      };
      this.once('connected', onConnected);
    });
  }

  stop(): void {
    this.stopped = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.handshake?.abort();
    this.current?.close('agent stopping');
    this.socket?.destroy();
  }
}
