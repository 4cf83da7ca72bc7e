/**
 * `connect expose` below the CLI: check the name is free, detect the protocol, then either hand the exposure to
 * the agent running on this machine (it persists) or serve it from this process until it ends.
 */
import type { Credentials } from '../config/credentials.js';
import { deleteExposure, loadExposures, type Exposure } from '../config/exposures.js';
import { HubApi } from '../agent/hub-api.js';
import type { ServiceView } from '../api/views.js';
import type { HubConnection } from '../agent/hub-connection.js';
import { Exposer } from '../agent/exposer.js';
import { connectAgent } from '../agent/connect-agent.js';
import { runningAgent } from '../agent/agent-lock.js';
import { detectProtocol } from '../agent/detect-protocol.js';
import { reportStatsPeriodically } from '../agent/stats-reporter.js';
import type { AgentEventSink } from '../agent/agent-events.js';
import type { ServiceProtocol } from '../api/service-protocol.js';
import { parseServiceName, type ServiceName } from '../api/service-name.js';
import { ConnectError, ErrorCodes } from '../api/errors.js';
import { handOffToRunningAgent } from './agent-handoff.js';

export interface ExposeRequest {
  name: ServiceName;
  host: string;
  port: number;
  /** `auto` probes the target. */
  protocol: ServiceProtocol | 'auto';
  /** `--allow`: grantees (parsed, src/api/grants.ts) the hub adds to the service's grants before it goes online. */
  allow?: string[];
}

export type ExposeOutcome =
  /** The running agent serves it, and keeps it across restarts. */
  | { servedBy: 'agent'; view: ServiceView; agentPid: number }
  /** This process serves it: `fatal` resolves when the hub refuses it for good; `stop` takes it offline. */
  | { servedBy: 'this-process'; view: ServiceView; conn: HubConnection; stop(): Promise<void> };

export async function exposeService(
  credentials: Credentials,
  request: ExposeRequest,
  events: AgentEventSink,
): Promise<ExposeOutcome> {
  const { name, host, port } = request;
  const api = new HubApi(credentials.hubUrl, credentials.apiKey);
  const existing = await api.service(name);
  if (existing && existing.agentId !== credentials.agentId) {
    throw new ConnectError(
      ErrorCodes.CONFLICT,
      `service '${name}' is already exposed by agent ${existing.agentLabel || existing.agentId}`,
      'Pick another name, or stop it on that agent first.',
    );
  }
  const protocol = request.protocol === 'auto' ? await detectProtocol(host, port) : request.protocol;
  const exposure = {
    name,
    targetHost: host,
    targetPort: port,
    protocol,
    createdAt: new Date().toISOString(),
    ...(request.allow?.length && { allow: request.allow }),
  };

  const agent = runningAgent();
  if (agent) {
    const view = await handOffToRunningAgent(api, exposure, credentials.agentId, agent.pid);
    return { servedBy: 'agent', view, agentPid: agent.pid };
  }
  return serveHere(credentials, exposure, events);
}

async function serveHere(
  credentials: Credentials,
  exposure: Exposure,
  events: AgentEventSink,
): Promise<ExposeOutcome> {
  const conn = connectAgent(credentials, 'expose', { events, onOpen: (req) => exposer.handleOpen(req) });
  const exposer = new Exposer(conn, events);
  reportStatsPeriodically(conn);
  await conn.start(true);
  const view = await exposer.add(exposure);
  if (!view) throw new ConnectError(ErrorCodes.HUB_UNREACHABLE, 'lost the hub connection while exposing');
  return {
    servedBy: 'this-process',
    view,
    conn,
    stop: () => exposer.remove(exposure.name, false).finally(() => conn.stop()),
  };
}

export interface ExposedRow extends ServiceView {
  /** Kept in ~/.connect/exposures.json (restored by the agent), not only served by a foreground `expose`. */
  persisted: boolean;
}

/** The services this agent exposes, as the hub sees them. */
export async function listExposed(credentials: Credentials): Promise<ExposedRow[]> {
  const api = new HubApi(credentials.hubUrl, credentials.apiKey);
  const persisted = new Set(loadExposures().map((e) => e.name));
  const mine = (await api.services()).filter((s) => s.agentId === credentials.agentId);
  return mine.map((s) => ({ ...s, persisted: persisted.has(s.name) }));
}

/** `expose grant` / `expose revoke`: changes who may reach `name`; its grants after the change. */
export async function changeServiceGrants(
  credentials: Credentials,
  name: ServiceName,
  change: { grant: string[] } | { revoke: string[] | 'all' },
): Promise<string[]> {
  const api = new HubApi(credentials.hubUrl, credentials.apiKey);
  const view =
    'grant' in change ? await api.grant(name, change.grant) : await api.revoke(name, change.revoke);
  return view.grants;
}

/**
 * Stops exposing `rawName`: removes it from this machine's exposures and deletes it at the hub. Says whether the
 * hub had it; NOT_FOUND when neither had it, CONFLICT when another agent serves it.
 */
export async function stopExposing(
  credentials: Credentials,
  rawName: string,
): Promise<{ removedAtHub: boolean }> {
  const name = parseServiceName(rawName);
  const api = new HubApi(credentials.hubUrl, credentials.apiKey);
  const view = await api.service(name);
  const persisted = await deleteExposure(name);
  if (view && view.agentId !== credentials.agentId) {
    throw new ConnectError(
      ErrorCodes.CONFLICT,
      `service '${rawName}' belongs to agent ${view.agentLabel}, not this one`,
    );
  }
  const removedAtHub = view ? await api.deleteService(name) : false;
  if (!removedAtHub && !persisted)
    throw new ConnectError(ErrorCodes.NOT_FOUND, `this agent does not expose '${rawName}'`);
  return { removedAtHub };
}
