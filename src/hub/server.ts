import { readFileSync } from 'node:fs';
import tlsDefaults from 'node:tls';
import type { AddressInfo, Socket } from 'node:net';
import Fastify, { type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { openStore, type Store } from './store/index.js';
import { SessionRegistry } from './registry.js';
import { checkTunnelHost, TunnelPorts, type TunnelOwner } from './tunnel-ports.js';
import { ServiceManager } from './services.js';
import { AgentGateway } from './gateway.js';
import { registerApi } from './http-api.js';
import { errorHandler, sendError } from './http-errors.js';
import { createMetrics } from './metrics.js';
import { bridgeSocket } from '../protocol/socket-bridge.js';
import { ConnectError, ErrorCodes, messageOf } from '../util/errors.js';

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
  tls?: { certFile: string; keyFile: string } | undefined;
  /** Largest accepted API request body, bytes. */
  bodyLimit?: number;
  /** How often live sessions' API keys are re-checked for revocation (default KEY_CHECK_MS). */
  keyCheckMs?: number;
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

/** Starts a hub: store, HTTP API, agents' WebSocket gateway and tunnel-port listeners. */
export async function startHub(opts: HubOptions): Promise<Hub> {
  const log = opts.logger;
  await checkTunnelHost(opts.tunnelHost);
  const store = await openStore({ dataDir: opts.dataDir, databaseUrl: opts.databaseUrl });
  try {
    await store.migrate();
  } catch (err) {
    await store.close().catch(() => undefined);
    throw err instanceof ConnectError
      ? err
      : new ConnectError(ErrorCodes.STORE_ERROR, `cannot open the store: ${messageOf(err)}`);
  }

  const registry = new SessionRegistry();
  const tunnels = new TunnelPorts(
    opts.tunnelHost,
    opts.tunnelPorts,
    (owner, socket) => onTunnelConnection(owner, socket),
    log,
  );
  const services = new ServiceManager(store, registry, tunnels, log);

  // A connection to a tunnel port becomes a stream to the agent that serves the service on that port.
  const onTunnelConnection = (owner: TunnelOwner | undefined, socket: Socket): void => {
    socket.on('error', () => socket.destroy());
    const server = owner && registry.serverOf(owner.workspaceId, owner.name);
    if (!owner || !server) {
      // Offline service: refuse at once rather than hold the client.
      socket.destroy();
      return;
    }
    bridgeSocket(server.mux.openStream({ service: owner.name, from: 'tunnel-port' }), socket);
  };

  const tls = opts.tls && readTls(opts.tls);
  // Per-request logs at info would drown the hub's own events; errors still reach the log.
  const httpLog = log.child({ component: 'http' }, { level: 'warn' });
  const onError = errorHandler(log);
  const common = {
    bodyLimit: opts.bodyLimit ?? 64 * 1024,
    loggerInstance: httpLog,
    // Errors raised before routing (a malformed %-escape, an over-long path segment) get the same JSON shape.
    frameworkErrors: onError,
    // Unknown fields and wrong types are errors, never silently dropped or coerced.
    ajv: { customOptions: { removeAdditional: false as const, coerceTypes: false as const } },
  };
  const app = (tls
    ? Fastify({ ...common, https: { ...tls, ...TLS_PREFERENCES } })
    : Fastify(common)) as unknown as FastifyInstance;
  app.setErrorHandler(onError);
  app.setNotFoundHandler((req, reply) =>
    sendError(reply, 404, 'NOT_FOUND', `no route ${req.method} ${req.url.split('?')[0]}`),
  );
  await registerApi(app, {
    store,
    storeKind: opts.databaseUrl ? 'postgres' : 'sqlite',
    services,
    registry,
    metrics: createMetrics(registry),
  });

  const gateway = new AgentGateway(store, registry, services, log, opts.keyCheckMs);
  app.server.on('upgrade', (req, socket, head: Buffer) => gateway.handleUpgrade(req, socket, head));

  await services.restoreListeners();
  try {
    await app.listen({ host: opts.host, port: opts.port });
  } catch (err) {
    await tunnels.closeAll();
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
        await store.close();
      })()),
  };
}
