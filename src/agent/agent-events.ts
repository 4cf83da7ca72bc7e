/**
 * What an agent process (`up`, the daemon, `reach`, `expose`, `dev`, the proxy) tells its operator, as typed
 * events. The agent emits them; the CLI renders each into the seeds' log line (`[ok] Connected to hub via
 * WebSocket`) and, when someone listens on the event channel, also writes it as a structured record. Tests and
 * the proxy manager read the records, so the wording of a line is free to be read by people only.
 */
import type { ServiceName } from '../api/service-name.js';

export type LogLevel = 'info' | 'warn' | 'error';

export type AgentEvent =
  | { type: 'agent-starting' }
  | { type: 'registered' }
  /** The saved identity had no agent secret (saved before agent credentials): a new agent was registered. */
  | { type: 'identity-renewed'; oldAgentId: string; agentId: string }
  | { type: 'agent-stopping' }
  /** The hub is unreachable at start; the saved identity is used and the connection retries. */
  | { type: 'sign-in-deferred'; reason: string }
  | { type: 'sign-in-retrying'; reason: string; delayMs: number }
  | { type: 'hub-connected'; hubUrl: string }
  | { type: 'hub-reconnecting'; reason: string; delayMs: number; attempt: number }
  | { type: 'exposed'; name: ServiceName; target: string; tunnelPort: number }
  | { type: 'expose-failed'; name: string; reason: string }
  | { type: 'unexposed'; name: string }
  | { type: 'watch-failed'; dir: string; reason: string }
  /** A stream the hub opened to an exposed service: dialling its target, then connected to it. */
  | { type: 'dialing'; target: string; streamId: number }
  | { type: 'target-connected'; target: string }
  | { type: 'target-unreachable'; name: string; target: string; reason: string }
  /** `connect reach` listens: connections to host:localPort go to the service. */
  | { type: 'reaching'; name: ServiceName; host: string; localPort: number; autoSelected: boolean }
  | { type: 'reach-reset'; name: string; reason: string }
  /** The hub refused a connection: the service's grants leave this agent out (src/api/grants.ts). */
  | { type: 'reach-refused'; name: string; reason: string }
  | { type: 'reach-open-failed'; name: string; reason: string }
  | { type: 'proxy-hub-connected'; hubUrl: string }
  | { type: 'proxy-hub-refused'; reason: string }
  | { type: 'proxy-not-signed-in' }
  | { type: 'proxy-listening'; url: string; pid: number }
  | { type: 'proxy-stopping' }
  /** The command failed for good (its `[x]` line went to stderr): the reason, for whoever started it. */
  | { type: 'command-failed'; message: string; hint?: string }
  /** A free-text line from a lower layer (the connection's internals, the proxy server). */
  | { type: 'notice'; level: LogLevel; message: string };

export type AgentEventType = AgentEvent['type'];
export type AgentEventOf<T extends AgentEventType> = Extract<AgentEvent, { type: T }>;

/** Where an agent component sends its events. */
export type AgentEventSink = (event: AgentEvent) => void;

/** A line as the operator reads it: its level, the seeds' marker (`[ok]`, `[x]`, `[!]`) if any, the words. */
export interface RenderedEvent {
  level: LogLevel;
  mark?: 'ok' | 'x' | '!';
  message: string;
}

/** One structured record of the event channel (a JSON line): the event and the line it was rendered to. */
export interface AgentEventRecord extends RenderedEvent {
  time: string;
  /** Whether the line was written to the log (a command may keep an event off it and print a summary). */
  shown: boolean;
  event: AgentEvent;
}

/** The words of each event: exactly the lines the seeds show (kept word for word). */
export function renderAgentEvent(e: AgentEvent): RenderedEvent {
  switch (e.type) {
    case 'agent-starting':
      return { level: 'info', message: '🚀 Starting Private Connect Agent...' };
    case 'registered':
      return { level: 'info', mark: 'ok', message: 'Registered with hub' };
    case 'identity-renewed':
      return {
        level: 'warn',
        mark: '!',
        message: `the saved identity (${e.oldAgentId}) has no agent secret (saved by an older version): registered this machine again as ${e.agentId}`,
      };
    case 'agent-stopping':
      return { level: 'info', message: 'Stopping agent...' };
    case 'sign-in-deferred':
      return {
        level: 'warn',
        mark: '!',
        message: `${e.reason}; starting with the saved identity and retrying`,
      };
    case 'sign-in-retrying':
      return {
        level: 'warn',
        mark: '!',
        message: `${e.reason}; retrying sign-in in ${(e.delayMs / 1000).toFixed(1)}s`,
      };
    case 'hub-connected':
      return { level: 'info', mark: 'ok', message: 'Connected to hub via WebSocket' };
    case 'hub-reconnecting':
      return {
        level: 'warn',
        message: `Hub connection lost (${e.reason}); reconnecting in ${(e.delayMs / 1000).toFixed(1)}s (attempt ${e.attempt})`,
      };
    case 'exposed':
      return {
        level: 'info',
        mark: 'ok',
        message: `Exposing ${e.name} → ${e.target} (tunnel port ${e.tunnelPort})`,
      };
    case 'expose-failed':
      return { level: 'error', mark: 'x', message: `Cannot expose ${e.name}: ${e.reason}` };
    case 'unexposed':
      return { level: 'info', message: `Stopped exposing ${e.name}` };
    case 'watch-failed':
      return {
        level: 'warn',
        mark: '!',
        message: `Cannot watch ${e.dir} for new exposures: ${e.reason}`,
      };
    case 'dialing':
      return {
        level: 'info',
        message: `Dialing ${e.target} for connection ${e.streamId.toString(16).padStart(8, '0')}...`,
      };
    case 'target-connected':
      return { level: 'info', mark: 'ok', message: `Connected to ${e.target}` };
    case 'target-unreachable':
      return { level: 'warn', message: `Cannot reach ${e.target} for ${e.name}: ${e.reason}` };
    case 'reaching':
      return { level: 'info', mark: 'ok', message: `Reaching ${e.name} on ${e.host}:${e.localPort}` };
    case 'reach-reset':
      return { level: 'warn', message: `Connection to ${e.name} reset: ${e.reason}` };
    case 'reach-refused':
      return { level: 'error', mark: 'x', message: e.reason };
    case 'reach-open-failed':
      return { level: 'warn', message: `Cannot open a connection to ${e.name}: ${e.reason}` };
    case 'proxy-hub-connected':
      return { level: 'info', mark: 'ok', message: `Connected to hub ${e.hubUrl}` };
    case 'proxy-hub-refused':
      return { level: 'error', mark: 'x', message: `The hub refused this proxy: ${e.reason}` };
    case 'proxy-not-signed-in':
      return {
        level: 'warn',
        mark: '!',
        message:
          'This machine is not signed in to a hub (connect up): only local routes (connect reach) are served',
      };
    case 'proxy-listening':
      return { level: 'info', mark: 'ok', message: `Proxy listening on ${e.url} (pid ${e.pid})` };
    case 'proxy-stopping':
      return { level: 'info', message: 'Stopping proxy...' };
    case 'command-failed':
      return { level: 'error', mark: 'x', message: e.message };
    case 'notice':
      return { level: e.level, message: e.message };
  }
}

/** The rendered line with its marker, as the log shows it (without the time stamp). */
export function lineOf(r: RenderedEvent): string {
  return r.mark ? `[${r.mark}] ${r.message}` : r.message;
}

/** Parses one line of the event channel; undefined for anything that is not a record. */
export function parseAgentEventRecord(line: string): AgentEventRecord | undefined {
  try {
    const value = JSON.parse(line) as Partial<AgentEventRecord> | null;
    if (value && typeof value.message === 'string' && typeof value.event?.type === 'string')
      return value as AgentEventRecord;
  } catch {
    // a torn or foreign line
  }
  return undefined;
}

/** A `(level, message)` logger for lower layers that log free text: each line becomes a `notice` event. */
export function noticeLogger(events: AgentEventSink): (level: LogLevel, message: string) => void {
  return (level, message) => events({ type: 'notice', level, message });
}
