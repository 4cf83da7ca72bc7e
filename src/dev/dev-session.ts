/**
 * `connect dev`: reach every service of a pconnect.yml at once, over ONE hub session (kind 'dev') with one local
 * listener per service, each recorded in active-routes.json so a running `connect proxy` routes to it at once.
 */
import { HubApi } from '../agent/hub-api.js';
import type { ServiceView } from '../api/views.js';
import type { HubConnection } from '../agent/hub-connection.js';
import { connectAgent } from '../agent/connect-agent.js';
import type { AgentEventSink } from '../agent/agent-events.js';
import { isServiceName, parseServiceName } from '../api/service-name.js';
import { reachService, type ReachListener } from '../agent/reacher.js';
import { addActiveRoute, removeActiveRoutes } from '../config/active-routes.js';
import { normalizeHubUrl, type Credentials } from '../config/credentials.js';
import { renderConfig, type PconnectConfig } from '../config/pconnect.js';
import { writeFileAtomic } from '../config/atomic-file.js';
import { ConnectError, ErrorCodes, messageOf } from '../api/errors.js';
import { isLoopbackHost } from '../util/loopback.js';

/** The flag that lets a pconnect.yml's `host:` listen beyond loopback. */
export const ALLOW_NETWORK_BIND_FLAG = '--allow-network-bind';

export interface ConnectedService {
  name: string;
  host: string;
  port: number;
  /** The port the file (or the service) asked for. */
  wanted: number;
  autoSelected: boolean;
  status: ServiceView['status'];
}

export interface FailedService {
  name: string;
  reason: string;
}

export interface DevSession {
  hubUrl: string;
  connected: ConnectedService[];
  failed: FailedService[];
  /** Emits 'fatal' when the hub refuses this agent for good. */
  conn: HubConnection;
  /** Closes every listener, removes the routes, ends the hub session. */
  close(): Promise<void>;
}

/** The hub a pconnect.yml's services live on must be the one this machine is signed in to. */
export function checkHub(config: PconnectConfig, credentials: Credentials, file: string): void {
  if (!config.hub) return;
  const wanted = normalizeHubUrl(config.hub);
  if (wanted !== normalizeHubUrl(credentials.hubUrl)) {
    throw new ConnectError(
      ErrorCodes.BAD_CONFIG,
      `${file} names the hub ${wanted}, but this machine is signed in to ${credentials.hubUrl}`,
      `Sign in to that hub: connect up --auth-only --hub ${wanted} --api-key <key>`,
    );
  }
}

/**
 * A pconnect.yml is a checked-out file: its `host:` may not open a service to the network (0.0.0.0, a LAN address)
 * unless the user passed --allow-network-bind. Every such entry is named, on one line.
 */
export function checkBinds(config: PconnectConfig, file: string, allowNetworkBind: boolean): void {
  if (allowNetworkBind) return;
  const wide = config.services.filter((s) => s.host !== undefined && !isLoopbackHost(s.host));
  if (wide.length === 0) return;
  const which = wide.map((s) => `${s.name} on ${s.host ?? ''}`).join(', ');
  throw new ConnectError(
    ErrorCodes.BAD_CONFIG,
    `${file} would listen beyond loopback (${which}), where other machines can reach it: pass ${ALLOW_NETWORK_BIND_FLAG} to allow it`,
  );
}

export async function startDev(
  config: PconnectConfig,
  credentials: Credentials,
  events: AgentEventSink,
): Promise<DevSession> {
  const api = new HubApi(credentials.hubUrl, credentials.apiKey);
  const services = await api.services();
  // The hub sends names as it stores them, already parsed.
  const byName = new Map(services.filter((s) => isServiceName(s.name)).map((s) => [s.name, s]));
  const conn = connectAgent(credentials, 'dev', { events });
  await conn.start(true);

  const listeners: ReachListener[] = [];
  const connected: ConnectedService[] = [];
  const failed: FailedService[] = [];
  // One after the other, in file order: two entries asking for the same port resolve the same way every run.
  for (const entry of config.services) {
    const name = parseServiceName(entry.name);
    const service = byName.get(name);
    if (!service) {
      const available = services.map((s) => s.name).sort();
      failed.push({
        name: entry.name,
        reason: `no service named '${entry.name}' at the hub${available.length ? ` (available: ${available.join(', ')})` : ''}`,
      });
      continue;
    }
    const wanted = entry.port ?? service.targetPort;
    try {
      const listener = await reachService(conn, name, {
        host: entry.host ?? '127.0.0.1',
        port: wanted,
        events,
      });
      listeners.push(listener);
      await addActiveRoute({
        serviceName: name,
        localPort: listener.port,
        pid: process.pid,
        startedAt: new Date().toISOString(),
        protocol: service.protocol,
      });
      connected.push({
        name: entry.name,
        host: listener.host,
        port: listener.port,
        wanted,
        autoSelected: listener.autoSelected,
        status: service.status,
      });
    } catch (err) {
      failed.push({ name: entry.name, reason: messageOf(err) });
    }
  }

  let closing: Promise<void> | undefined;
  return {
    hubUrl: credentials.hubUrl,
    connected,
    failed,
    conn,
    close() {
      closing ??= (async () => {
        conn.stop();
        await Promise.all([
          ...listeners.map((l) => l.close()),
          removeActiveRoutes(process.pid).catch(() => undefined),
        ]);
      })();
      return closing;
    },
  };
}

/**
 * `connect dev --init`: writes a pconnect.yml at `path` listing every service of the hub (by name, at its target
 * port). NOT_FOUND when the hub has none yet. Returns what it wrote.
 */
export async function writeDevConfig(
  credentials: Credentials,
  path: string,
): Promise<{ hub: string; services: { name: string; port: number }[] }> {
  const services = (await new HubApi(credentials.hubUrl, credentials.apiKey).services()).sort((a, b) =>
    a.name.localeCompare(b.name),
  );
  if (services.length === 0) {
    throw new ConnectError(
      ErrorCodes.NOT_FOUND,
      'the hub has no services yet',
      'Expose one first: connect expose <name> <port>',
    );
  }
  const config = {
    hub: credentials.hubUrl,
    services: services.map((s) => ({ name: s.name, port: s.targetPort })),
  };
  writeFileAtomic(path, renderConfig(config), 0o644);
  return config;
}
