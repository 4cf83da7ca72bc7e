/**
 * `connect reach` below the CLI: a check that dials through the whole path and hangs up, or a session that
 * listens on a local port, forwards each connection to the service, and records the route for the proxy.
 */
import type { Credentials } from '../config/credentials.js';
import { addActiveRoute, removeActiveRoutes } from '../config/active-routes.js';
import { HubApi } from '../agent/hub-api.js';
import type { ServiceView } from '../api/views.js';
import type { HubConnection } from '../agent/hub-connection.js';
import { connectAgent } from '../agent/connect-agent.js';
import { reachService } from '../agent/reacher.js';
import { checkService, type CheckResult } from '../agent/health-check.js';
import { requireService } from '../agent/service-lookup.js';
import { reportStatsPeriodically } from '../agent/stats-reporter.js';
import type { AgentEventSink } from '../agent/agent-events.js';
import type { ServiceName } from '../api/service-name.js';
import { ConnectError, ErrorCodes } from '../api/errors.js';

export interface ReachCheck extends CheckResult {
  status: ServiceView['status'];
}

/**
 * Dials `name` through the hub and the exposing agent to its target, then hangs up. SERVICE_OFFLINE when its
 * agent is away (nothing is dialled); the result says whether the target answered, and how fast.
 */
export async function checkReach(credentials: Credentials, name: ServiceName): Promise<ReachCheck> {
  const api = new HubApi(credentials.hubUrl, credentials.apiKey);
  const service = await requireService(api, name);
  if (service.status === 'offline') {
    throw new ConnectError(
      ErrorCodes.SERVICE_OFFLINE,
      `${name} is offline: its agent is not connected to the hub`,
    );
  }
  const conn = connectAgent(credentials, 'check');
  await conn.start(true);
  try {
    return { status: service.status, ...(await checkService(conn, name)) };
  } finally {
    conn.stop();
  }
}

export interface ReachSession {
  name: ServiceName;
  host: string;
  localPort: number;
  /** The wanted port was taken and another one was picked. */
  autoSelected: boolean;
  status: ServiceView['status'];
  /** Emits 'fatal' when the hub refuses this agent for good. */
  conn: HubConnection;
  /** Closes the listener, removes the route, ends the hub session. */
  close(): Promise<void>;
}

/**
 * Listens on `host:port` (default: the service's target port, the next free one unless `exact`) and forwards each
 * connection to `name`. The route is recorded in active-routes.json so that a running `connect proxy` uses it.
 */
export async function openReachSession(
  credentials: Credentials,
  name: ServiceName,
  opts: { host: string; port?: number | undefined; exact?: boolean | undefined },
  events: AgentEventSink,
): Promise<ReachSession> {
  const api = new HubApi(credentials.hubUrl, credentials.apiKey);
  const service = await requireService(api, name);
  const conn = connectAgent(credentials, 'reach', { events });
  reportStatsPeriodically(conn);
  await conn.start(true);
  let listener;
  try {
    listener = await reachService(conn, name, {
      host: opts.host,
      port: opts.port ?? service.targetPort,
      exact: opts.exact,
      events,
    });
    await addActiveRoute({
      serviceName: name,
      localPort: listener.port,
      pid: process.pid,
      startedAt: new Date().toISOString(),
      protocol: service.protocol,
    });
  } catch (err) {
    // A port that is taken (with --exact) must not leave a hub session behind.
    conn.stop();
    throw err;
  }
  return reachSessionOf(name, opts.host, listener, service.status, conn, () =>
    removeActiveRoutes(process.pid, name),
  );
}

/** The session a listener and its hub connection make; close() stops both once, then runs `cleanup`. */
export function reachSessionOf(
  name: ServiceName,
  host: string,
  listener: { port: number; autoSelected: boolean; close(): Promise<void> },
  status: ReachSession['status'],
  conn: HubConnection,
  cleanup: () => Promise<void> = () => Promise.resolve(),
): ReachSession {
  let closing: Promise<void> | undefined;
  return {
    name,
    host,
    localPort: listener.port,
    autoSelected: listener.autoSelected,
    status,
    conn,
    close() {
      closing ??= (async () => {
        conn.stop();
        await Promise.all([listener.close(), cleanup()]);
      })();
      return closing;
    },
  };
}
