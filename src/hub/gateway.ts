import { STATUS_CODES, type IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import type { OpenRequest, Refusal, SessionGuard } from '../protocol/session.js';
import { AgentHeaders, CONNECT_PATH, PROTOCOL_VERSION } from '../protocol/frames.js';
import { answerUpgrade, type Framing } from '../protocol/ws-handshake.js';
import { attachWebSocket } from '../protocol/ws-transport.js';
import { keyIsLive, verifyAgentSecret, verifyApiKey } from './api-keys.js';
import { mayActFor, mayReach, roleKey } from './access.js';
import type { Store } from './store/index.js';
import type { ApiErrorBody } from '../api/http-bodies.js';
import type { AgentSession, SessionRegistry } from './registry.js';
import type { ServiceManager } from './services.js';
import { handleControl } from './control.js';
import { openRefusal } from './grants.js';
import { newId } from '../util/ids.js';
import { ErrorCodes, messageOf, type ErrorCode } from '../api/errors.js';
import { httpStatusOf, resetCodeOf } from '../api/error-catalogue.js';
import { parseServiceName, type ServiceName } from '../api/service-name.js';
import { echoInput } from '../util/parse.js';
import { DEFAULT_HUB_LIMITS, type HubLimits } from './limits.js';
import { TokenBucket } from '../util/token-bucket.js';
import { throttle } from '../util/throttle.js';
import { AUDIT_REFUSALS_BURST, AUDIT_REFUSALS_PER_SECOND, resetCodeName, type AuditLog } from './audit.js';
import type { SpliceEnd } from '../protocol/splice.js';
import { closeEndedShares, SHARE_CHECK_MS, shareSessionAuth, verifyShareToken } from './shares.js';
import { looksLikeShareToken } from '../api/share.js';

/** At most one 'hub limit crossed' line per session this often (each counts the refusals since the last). */
const REFUSAL_LOG_MS = 10_000;

/** The service an OPEN asks for (its `service` meta), parsed; undefined when no service can have that name. */
function serviceOf(meta: unknown): ServiceName | undefined {
  if (typeof meta !== 'string') return undefined;
  try {
    return parseServiceName(meta);
  } catch {
    return undefined;
  }
}

/** How often the hub re-checks the API keys of live sessions (a revoked key ends its sessions within this). */
export const KEY_CHECK_MS = 30_000;

/** The session bounds of src/hub/limits.ts, in the protocol layer's terms. */
export function sessionGuard(limits: HubLimits): SessionGuard {
  return {
    maxStreams: limits.streamsPerSession,
    maxPendingOpens: limits.pendingOpensPerSession,
    maxPendingBytes: limits.pendingBytesPerSession,
    maxStreamWindow: limits.maxStreamWindow,
    unsentSlackBytes: limits.unsentSlackBytes,
    unsentWindowCapBytes: limits.unsentWindowCapBytes,
  };
}

/**
 * The agents' side of the hub: authenticates each WebSocket upgrade, wraps it in a MuxSession and relays
 * streams between sessions. Each connecting process gets its own session id, so an agent's `up`, `reach`
 * and `proxy` never displace one another.
 */
export class AgentGateway {
  private readonly keySweep: NodeJS.Timeout;
  private readonly shareSweep: NodeJS.Timeout;
  private readonly guard: SessionGuard;

  constructor(
    private readonly store: Store,
    private readonly registry: SessionRegistry,
    private readonly services: ServiceManager,
    private readonly log: Logger,
    keyCheckMs = KEY_CHECK_MS,
    private readonly limits: HubLimits = DEFAULT_HUB_LIMITS,
    /** Where each OPEN's reach is recorded when it ends (or is refused). */
    private readonly audit?: AuditLog,
  ) {
    this.guard = sessionGuard(limits);
    // A key is checked once at the upgrade; `hub keys revoke` runs in another process, so the hub re-reads the
    // keys of its live sessions now and then, or a revoked key would keep its sessions (and their streams) for ever.
    this.keySweep = setInterval(() => {
      this.closeRevokedSessions().catch((err: unknown) =>
        this.log.error({ err: messageOf(err) }, 'revoked-key sweep failed'),
      );
    }, keyCheckMs);
    this.keySweep.unref();
    this.shareSweep = setInterval(() => {
      closeEndedShares(this.store, this.registry.all()).then(
        (closed) => closed.forEach((why) => this.log.info(`closing share session: ${why}`)),
        (err: unknown) => this.log.warn({ err: messageOf(err) }, 'cannot re-check shares'),
      );
    }, SHARE_CHECK_MS);
    this.shareSweep.unref();
  }

  /** Closes every session whose API key was revoked, expired (or deleted) since it connected. */
  async closeRevokedSessions(): Promise<void> {
    // Share sessions have no API key of their own: closeEndedShares watches them.
    const sessions = this.registry.all().filter((s) => !s.share);
    for (const keyId of new Set(sessions.map((s) => s.apiKeyId))) {
      let record;
      try {
        record = await this.store.findApiKey(keyId);
      } catch (err) {
        // The store is away: keep the sessions, try again at the next sweep.
        this.log.warn({ err: messageOf(err) }, 'cannot re-check API keys');
        return;
      }
      if (record && keyIsLive(record)) continue;
      const why = record && !record.revokedAt ? 'expired' : 'revoked';
      for (const session of sessions) {
        if (session.apiKeyId !== keyId || session.mux.closed) continue;
        this.log.info(
          { session: session.id, agent: session.agentId },
          `closing session: its API key was ${why}`,
        );
        session.mux.close(`API key ${why}`);
      }
    }
  }

  /**
   * Answers a refused upgrade and destroys the socket shortly after, whether or not the client closes its side:
   * before authentication nobody may hold a socket of the hub. The status is the catalogue's for `code`.
   */
  private refuse(socket: Duplex, code: ErrorCode, message: string): void {
    const status = httpStatusOf(code);
    const body = JSON.stringify({ statusCode: status, code, message } satisfies ApiErrorBody);
    if (socket.destroyed) return;
    socket.end(
      `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
    setTimeout(() => socket.destroy(), this.limits.refusedSocketGraceMs).unref();
  }

  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on('error', () => socket.destroy());
    // Authentication waits on the store; a client must not hold the socket longer than this before its 101.
    const timeout = setTimeout(() => {
      this.log.warn(
        { remote: req.socket.remoteAddress },
        'agent upgrade timed out before authentication finished',
      );
      this.refuse(
        socket,
        ErrorCodes.TIMEOUT,
        `authentication did not finish within ${this.limits.upgradeTimeoutMs} ms`,
      );
    }, this.limits.upgradeTimeoutMs);
    timeout.unref();
    this.authenticate(req, socket)
      .then((auth) => {
        clearTimeout(timeout);
        if (!auth || socket.destroyed || socket.writableEnded) return;
        // Counted here, synchronously before the session is added, so racing upgrades cannot all pass.
        const open = this.registry.sessionsOfKey(auth.apiKeyId);
        if (open >= this.limits.sessionsPerKey) {
          this.log.warn({ key: auth.apiKeyId, open }, 'agent upgrade refused: sessions per key');
          this.refuse(
            socket,
            ErrorCodes.LIMIT_REACHED,
            `this API key already has ${open} sessions open (the hub's limit is ${this.limits.sessionsPerKey})`,
          );
          return;
        }
        const answer = answerUpgrade(req);
        if ('error' in answer) {
          this.refuse(socket, ErrorCodes.BAD_INPUT, answer.error);
          return;
        }
        socket.write(answer.response);
        // Node's HTTP server hands upgrades over as the net.Socket (tls.TLSSocket for a TLS hub) it accepted.
        this.attach(socket as Socket, head, auth, answer.framing);
      })
      .catch((err: unknown) => {
        // Nothing a peer sends may throw out of here: log, answer, keep the hub up.
        clearTimeout(timeout);
        this.log.error({ err: messageOf(err) }, 'agent upgrade failed');
        this.refuse(socket, ErrorCodes.INTERNAL, 'could not open the agent session');
      });
  }

  private async authenticate(
    req: IncomingMessage,
    socket: Duplex,
  ): Promise<Omit<AgentSession, 'mux' | 'id' | 'connectedAt'> | undefined> {
    try {
      const url = new URL(req.url ?? '/', 'http://hub');
      if (url.pathname !== CONNECT_PATH) {
        this.refuse(socket, ErrorCodes.NOT_FOUND, `no WebSocket endpoint at ${echoInput(url.pathname)}`);
        return undefined;
      }
      const header = (name: string): string => {
        const value = req.headers[name];
        return (Array.isArray(value) ? value[0] : value) ?? '';
      };
      const version = header(AgentHeaders.protocol);
      if (version !== String(PROTOCOL_VERSION)) {
        this.refuse(
          socket,
          ErrorCodes.PROTOCOL_VERSION,
          `this hub speaks protocol ${PROTOCOL_VERSION}, the agent sent '${echoInput(version || 'none')}': upgrade the older side`,
        );
        return undefined;
      }
      if (looksLikeShareToken(header(AgentHeaders.apiKey))) {
        const verified = await verifyShareToken(this.store, header(AgentHeaders.apiKey));
        if ('share' in verified) return shareSessionAuth(verified.share);
        this.refuse(socket, ErrorCodes.UNAUTHORIZED, verified.refusal);
        return undefined;
      }
      const key = await verifyApiKey(this.store, header(AgentHeaders.apiKey));
      if (!key) {
        this.refuse(socket, ErrorCodes.UNAUTHORIZED, 'missing, invalid, revoked or expired API key');
        return undefined;
      }
      const agent = await this.store.findAgent(key.workspaceId, header(AgentHeaders.agentId));
      if (!agent) {
        this.refuse(
          socket,
          ErrorCodes.NOT_FOUND,
          'unknown agent for this workspace: sign in again with `connect up`',
        );
        return undefined;
      }
      // The id is public (GET /v1/services shows it): the secret issued at registration proves the agent.
      if (!verifyAgentSecret(agent.secretHash, header(AgentHeaders.agentSecret))) {
        this.log.warn(
          { agent: agent.id, key: key.id },
          'agent upgrade refused: wrong or missing agent secret',
        );
        this.refuse(
          socket,
          ErrorCodes.UNAUTHORIZED,
          agent.secretHash === null
            ? `agent ${agent.id} has no secret (registered by an older hub): sign in again with \`connect up\``
            : `missing or wrong secret for agent ${agent.id}: sign in again with \`connect up\``,
        );
        return undefined;
      }
      if (!mayActFor(key, agent)) {
        this.log.warn(
          { agent: agent.id, key: key.id },
          'agent upgrade refused: key did not register the agent',
        );
        this.refuse(
          socket,
          ErrorCodes.FORBIDDEN,
          `${roleKey(key.role)} may not connect as agent ${agent.id}: only the key that registered it, or an admin key`,
        );
        return undefined;
      }
      return {
        agentId: agent.id,
        agentLabel: agent.label,
        workspaceId: key.workspaceId,
        apiKeyId: key.id,
        role: key.role,
        services: key.services,
        kind: header(AgentHeaders.kind).slice(0, 32) || 'agent',
      };
    } catch (err) {
      this.log.error({ err: messageOf(err) }, 'agent authentication failed');
      this.refuse(socket, ErrorCodes.INTERNAL, 'could not authenticate the agent');
      return undefined;
    }
  }

  private attach(
    socket: Socket,
    head: Buffer,
    auth: Omit<AgentSession, 'mux' | 'id' | 'connectedAt'>,
    framing: Framing,
  ): void {
    const mux = attachWebSocket(
      socket,
      head,
      { role: 'server', label: auth.agentLabel, guard: this.guard },
      framing,
    );
    const session: AgentSession = { ...auth, id: newId('sess'), connectedAt: new Date().toISOString(), mux };
    this.registry.add(session);
    const log = this.log.child({ session: session.id, agent: session.agentId, kind: session.kind });
    log.info({ framing }, 'agent session connected');
    void this.store.touchAgent(session.agentId, session.connectedAt).catch(() => undefined);

    mux.on('error', (err: unknown) =>
      log.warn({ err: messageOf(err) }, 'closing agent session after protocol error'),
    );
    mux.on('close', (reason: string) => {
      const offline = this.registry.remove(session);
      log.info({ reason, offline }, 'agent session closed');
      void this.services.wentOffline(session.workspaceId, offline);
    });
    // One line at once, then at most one per REFUSAL_LOG_MS with a count: a refusal costs a peer ~20 bytes.
    mux.on(
      'refused',
      throttle(REFUSAL_LOG_MS, (refusals: number, refusal: Refusal) =>
        log.warn(
          { stream: refusal.streamId, code: refusal.code, reason: refusal.reason, refusals },
          'hub limit crossed',
        ),
      ),
    );
    const controlBudget = new TokenBucket(this.limits.controlBurst, this.limits.controlPerSecond);
    mux.on('control', (msg: Record<string, unknown>) => {
      if (!controlBudget.take()) {
        const reason = `more than ${this.limits.controlPerSecond} control messages per second (burst ${this.limits.controlBurst})`;
        log.warn({ reason }, 'closing agent session: control flood');
        mux.goAway(resetCodeOf(ErrorCodes.LIMIT_REACHED), reason);
        return;
      }
      handleControl(session, msg, this.services, log)
        .then((reply) => {
          if (reply && !mux.closed) mux.sendControl(reply);
        })
        .catch((err: unknown) => {
          // A reply that cannot be encoded (or any bug below) costs this request, never the hub.
          log.error({ err: messageOf(err) }, 'control request failed');
        });
    });
    const refusalsAudited = new TokenBucket(AUDIT_REFUSALS_BURST, AUDIT_REFUSALS_PER_SECOND);
    mux.on('open', (req: OpenRequest) => {
      const startedMs = Date.now();
      const name = serviceOf(req.meta.service);
      const asked = name ?? echoInput(req.meta.service ?? '');
      const ended = (end: SpliceEnd): void => {
        if (end.end !== 'refused' || refusalsAudited.take()) this.recordReach(session, asked, startedMs, end);
        else this.audit?.skipped(session.id);
      };
      const reject = (code: ErrorCode, reason: string): void => {
        const reset = resetCodeOf(code);
        req.reject(reset, reason);
        ended({ end: 'refused', code: reset, reason, bytesFromA: 0, bytesFromB: 0 });
      };
      if (name === undefined) {
        // No service can have that name: nothing to look up.
        reject(ErrorCodes.NOT_FOUND, `no service named '${asked}' in this workspace`);
        return;
      }
      if (!mayReach(session, name)) {
        reject(
          ErrorCodes.FORBIDDEN,
          session.share
            ? `access to '${name}' refused: this share token reaches only '${session.services?.[0] ?? ''}'`
            : `this API key may not reach '${name}' (not in its service list)`,
        );
        return;
      }
      const server = this.registry.serverOf(session.workspaceId, name);
      if (!server) {
        // Only whether the service exists matters here: one query, not the full view (which adds its agent).
        void this.store.findServiceByName(session.workspaceId, name).then(
          (known) => {
            if (known) reject(ErrorCodes.SERVICE_OFFLINE, `service '${name}' is offline`);
            else reject(ErrorCodes.NOT_FOUND, `no service named '${name}' in this workspace`);
          },
          // A store outage must reset this one stream, not crash the hub with an unhandled rejection.
          (err: unknown) => {
            log.warn({ err: messageOf(err), service: name }, 'cannot look up an offline service');
            reject(ErrorCodes.STORE_ERROR, `the hub cannot look up '${name}' right now`);
          },
        );
        return;
      }
      // Per-service grants (src/hub/grants.ts): asked on every OPEN, so a revoke refuses the next one.
      const onEnd = this.audit && ended;
      const refuse = (refusal: string): void => {
        log.info({ service: name, key: session.apiKeyId }, 'open refused: not granted');
        reject(ErrorCodes.FORBIDDEN, refusal);
      };
      const refusal = openRefusal(this.store, session, name, server.agentId);
      if (typeof refusal === 'string') return refuse(refusal);
      if (refusal === undefined)
        return req.splice(server.mux, { service: name, from: session.agentLabel }, onEnd);
      void refusal.then(
        (refused) => {
          const serving = this.registry.serverOf(session.workspaceId, name);
          if (refused) refuse(refused);
          else if (serving) req.splice(serving.mux, { service: name, from: session.agentLabel }, onEnd);
          else reject(ErrorCodes.SERVICE_OFFLINE, `service '${name}' is offline`);
        },
        (err: unknown) => {
          log.warn({ err: messageOf(err), service: name }, 'cannot look up the grants of a service');
          reject(ErrorCodes.STORE_ERROR, `the hub cannot look up '${name}' right now`);
        },
      );
    });
    mux.sendControl({
      op: 'welcome',
      sessionId: session.id,
      agentId: session.agentId,
      protocol: PROTOCOL_VERSION,
    });
  }

  /** An OPEN's reach, for the audit log: the local proxy's sessions are `proxy`, every other agent's `reach`. */
  private recordReach(session: AgentSession, service: string, startedMs: number, end: SpliceEnd): void {
    this.audit?.record({
      workspaceId: session.workspaceId,
      service,
      source: session.kind === 'proxy' ? 'proxy' : 'reach',
      agentId: session.agentId,
      agentLabel: session.agentLabel,
      keyId: session.apiKeyId,
      remote: null,
      startedMs,
      bytesToService: end.bytesFromA,
      bytesFromService: end.bytesFromB,
      end: end.end,
      code: resetCodeName(end.code),
      reason: end.reason ?? null,
    });
  }

  closeAll(): void {
    clearInterval(this.keySweep);
    clearInterval(this.shareSweep);
    for (const session of this.registry.all()) session.mux.close('hub shutting down');
  }
}
