import { readFileSync } from 'node:fs';
import tlsDefaults from 'node:tls';
import type { AddressInfo, Socket } from 'node:net';
import Fastify, { type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { openStore, type Store } from './store/index.js';
import { SessionRegistry } from './registry.js';
import { checkTunnelHost, tunnelAccess, TunnelPorts, warnOnDrop, type TunnelOwner } from './tunnel-ports.js';
import { hubLimits, type HubLimits } from './limits.js';
import { ServiceManager } from './services.js';
import { AgentGateway } from './gateway.js';
import { registerApi } from './http-api.js';
import { errorHandler, sendError } from './http-errors.js';
import { createMetrics } from './metrics.js';
import { bridgeSocket } from '../protocol/socket-bridge.js';
import { AuditLog, resetCodeName } from './audit.js';
import type { StreamReset } from '../protocol/stream.js';
import { ConnectError, ErrorCodes, messageOf } from '../api/errors.js';

/**
 * The hub picks the cipher: AES-128-GCM first (AES-NI makes it the cheapest per byte, and the hub encrypts every
 * relayed byte twice), then node's defaults. All are TLS 1.3 / forward-secret AEAD suites.
 */
const TLS_PREFERENCES = {
  ciphers: [
    'TLS_AES_128_GCM_SHA256',
    ...tlsDefaults.DEFAULT_CIPHERS.split(':').filter((c) => c !== 'TLS_AES_128_GCM_SHA256'),
  ].join(':'),
  honorCipherOrder: true,
  minVersion: 'TLSv1.2' as const,
};

export interface HubOptions {
  host: string;
  port: number;
  dataDir: string;
  /** postgres://… to use PostgreSQL instead of the embedded SQLite file. */
  databaseUrl?: string | undefined;
  tunnelHost: string;
  tunnelPorts: { low: number; high: number };
  /** CIDRs (or addresses) that may connect to the tunnel ports; required when tunnelHost is not loopback. */
  tunnelAllow?: readonly string[] | undefined;
  tls?: { certFile: string; keyFile: string } | undefined;
  /** Largest accepted API request body, bytes. */
  bodyLimit?: number;
  /** How often live sessions' API keys are re-checked for revocation (default KEY_CHECK_MS). */
  keyCheckMs?: number;
  /** Every bound the hub puts on its peers (default `hubLimits()`; `connect hub start --limit name=value`). */
  limits?: HubLimits;
  logger: Logger;
}

export interface Hub {
  url: string;
  port: number;
  store: Store;
  registry: SessionRegistry;
  close(): Promise<void>;
}

function readTls(tls: NonNullable<HubOptions['tls']>): { cert: Buffer; key: Buffer } {
  try {
    return { cert: readFileSync(tls.certFile), key: readFileSync(tls.keyFile) };
  } catch (err) {
    throw new ConnectError(ErrorCodes.BAD_INPUT, `cannot read the TLS certificate or key: ${messageOf(err)}`);
  }
}

/** Longest wait between node's checks of headersTimeout and requestTimeout (its default is 30 s). */
const TIMEOUT_CHECK_MS = 1_000;

/** Limits that only make sense together; node would otherwise throw an opaque error at server creation. */
function checkLimits(limits: HubLimits): void {
  if (limits.headersTimeoutMs > limits.requestTimeoutMs) {
    throw new ConnectError(
      ErrorCodes.BAD_INPUT,
      `headers-timeout-ms (${limits.headersTimeoutMs}) must not exceed request-timeout-ms (${limits.requestTimeoutMs}): the headers are part of the request`,
    );
  }
}

/**
 * Options of node's HTTP(S) server, given at its creation (node reads connectionsCheckingInterval once, when
 * the server starts listening). node enforces headersTimeout and requestTimeout only when it sweeps its
 * connections, every connectionsCheckingInterval: with node's 30 s a slowloris would keep its socket for up to
 * headersTimeout + 30 s. Sweeping every second (or every headersTimeout, if shorter) cuts it within about
 * headersTimeout + 1 s. headersTimeout bounds the upgrade request of agents' WebSockets too; an upgraded socket
 * leaves node's HTTP parser, so neither timeout applies to a WebSocket session once it is open.
 */
function nodeServerOptions(limits: HubLimits) {
  return {
    headersTimeout: limits.headersTimeoutMs,
    requestTimeout: limits.requestTimeoutMs,
    connectionsCheckingInterval: Math.min(TIMEOUT_CHECK_MS, limits.headersTimeoutMs),
  };
}

/** Starts a hub: store, HTTP API, agents' WebSocket gateway and tunnel-port listeners. */
export async function startHub(opts: HubOptions): Promise<Hub> {
  const log = opts.logger;
  const limits = opts.limits ?? hubLimits();
  checkLimits(limits);
  await checkTunnelHost(opts.tunnelHost);
  const tunnelAllow = tunnelAccess(opts.tunnelHost, opts.tunnelAllow);
  const store = await openStore({ dataDir: opts.dataDir, databaseUrl: opts.databaseUrl });
  try {
    await store.migrate();
  } catch (err) {
    await store.close().catch(() => undefined);
    throw err instanceof ConnectError
      ? err
      : new ConnectError(ErrorCodes.STORE_ERROR, `cannot open the store: ${messageOf(err)}`);
  }

  const audit = new AuditLog(store, log);
  const registry = new SessionRegistry();
  const tunnels = new TunnelPorts(
    opts.tunnelHost,
    opts.tunnelPorts,
    (owner, socket) => onTunnelConnection(owner, socket),
    log,
    limits.connectionsPerTunnelPort,
    tunnelAllow,
  );

  const services = new ServiceManager(store, registry, tunnels, log, limits);
  await services.start();

  // A connection to a tunnel port becomes a stream to the agent that serves the service on that port.
  /** What every tunnel-port audit row says: no agent or key (raw TCP carries none), the peer address instead. */
  const tunnelPortRow = (owner: TunnelOwner, remote: string | null, startedMs: number) => ({
    workspaceId: owner.workspaceId,
    service: owner.name,
    source: 'tunnel-port' as const,
    agentId: null,
    agentLabel: null,
    keyId: null,
    remote,
    startedMs,
  });
  const onTunnelConnection = (owner: TunnelOwner | undefined, socket: Socket): void => {
    socket.on('error', () => socket.destroy());
    const server = owner && registry.serverOf(owner.workspaceId, owner.name);
    if (!owner || !server) {
      // Offline service: refuse at once rather than hold the client (raw TCP: there is nothing to answer it with).
      socket.destroy();
      if (owner) {
        audit.record({
          ...tunnelPortRow(owner, socket.remoteAddress ?? null, Date.now()),
          bytesToService: 0,
          bytesFromService: 0,
          end: 'refused',
          code: 'OFFLINE',
          reason: `service '${owner.name}' is offline`,
        });
      }
      return;
    }
    const startedMs = Date.now();
    const remote = socket.remoteAddress ?? null; // gone once the socket closed
    const stream = server.mux.openStream({ service: owner.name, from: 'tunnel-port' });
    // Audit: bytes from the socket's own counters, the end from the two FINs or the reset (each seen once).
    let clientFin = false;
    let serviceFin = false;
    let reset: StreamReset | undefined;
    socket.once('end', () => (clientFin = true));
    stream.once('end', () => (serviceFin = true));
    stream.once('reset', (r: StreamReset) => (reset = r));
    bridgeSocket(stream, socket, {
      onClose: (err) =>
        audit.record({
          ...tunnelPortRow(owner, remote, startedMs),
          bytesToService: socket.bytesRead,
          bytesFromService: socket.bytesWritten,
          ...(reset
            ? { end: 'reset', code: resetCodeName(reset.code), reason: reset.reason }
            : err || !clientFin || !serviceFin
              ? {
                  end: 'reset',
                  code: 'CANCEL',
                  reason: err?.message ?? 'the client closed without finishing',
                }
              : { end: 'fin', code: null, reason: null }),
        }),
    });
  };

  const tls = opts.tls && readTls(opts.tls);
  // Per-request logs at info would drown the hub's own events; errors still reach the log.
  const httpLog = log.child({ component: 'http' }, { level: 'warn' });
  const onError = errorHandler(log);
  const nodeOptions = nodeServerOptions(limits);
  const common = {
    bodyLimit: opts.bodyLimit ?? 64 * 1024,
    // Fastify sets server.requestTimeout from its own option (0 unless given), over the node option below.
    requestTimeout: limits.requestTimeoutMs,
    loggerInstance: httpLog,
    // Errors raised before routing (a malformed %-escape, an over-long path segment) get the same JSON shape.
    frameworkErrors: onError,
    // Unknown fields and wrong types are errors, never silently dropped or coerced.
    ajv: { customOptions: { removeAdditional: false as const, coerceTypes: false as const } },
  };
  // Fastify hands `http` to http.createServer and `https` to https.createServer (which takes http's options too).
  const app = (tls
    ? Fastify({
        ...common,
        // A TLS handshake precedes the headers, and node's default gives it 120 s: it gets headersTimeout too.
        https: { ...tls, ...TLS_PREFERENCES, ...nodeOptions, handshakeTimeout: limits.headersTimeoutMs },
      })
    : Fastify({ ...common, http: nodeOptions })) as unknown as FastifyInstance;
  // Counts every socket: API requests, keep-alive connections and agents' WebSockets. node closes the rest at once.
  app.server.maxConnections = limits.httpConnections;
  app.server.on(
    'drop',
    warnOnDrop(log, () => ({
      fields: { limit: limits.httpConnections },
      message: `the HTTP API refused a connection: it already holds ${limits.httpConnections} connections (the hub's limit is ${limits.httpConnections})`,
    })),
  );
  app.setErrorHandler(onError);
  app.setNotFoundHandler((req, reply) =>
    sendError(reply, ErrorCodes.NOT_FOUND, `no route ${req.method} ${req.url.split('?')[0]}`),
  );
  await registerApi(app, {
    store,
    storeKind: opts.databaseUrl ? 'postgres' : 'sqlite',
    services,
    registry,
    metrics: createMetrics(registry),
    audit,
  });

  const gateway = new AgentGateway(store, registry, services, log, opts.keyCheckMs, limits, audit);
  app.server.on('upgrade', (req, socket, head: Buffer) => gateway.handleUpgrade(req, socket, head));

  try {
    await app.listen({ host: opts.host, port: opts.port });
  } catch (err) {
    await tunnels.closeAll();
    await audit.close();
    await store.close().catch(() => undefined);
    throw new ConnectError(
      ErrorCodes.PORT_UNAVAILABLE,
      `cannot listen on ${opts.host}:${opts.port}: ${messageOf(err)}`,
    );
  }
  const port = (app.server.address() as AddressInfo).port;
  const host = opts.host.includes(':') ? `[${opts.host}]` : opts.host;
  const url = `${tls ? 'https' : 'http'}://${host}:${port}`;

  let closing: Promise<void> | undefined;
  return {
    url,
    port,
    store,
    registry,
    close: () =>
      (closing ??= (async () => {
        gateway.closeAll();
        await tunnels.closeAll();
        await app.close();
        await audit.close();
        await store.close();
      })()),
  };
}
