import { HubConnection } from './hub-connection.js';
import { noticeLogger, type AgentEventSink } from './agent-events.js';
import type { Credentials } from '../config/credentials.js';
import type { OpenRequest } from '../protocol/session.js';

/** What a process is to the hub (shown in the hub's logs): one session per process, never displaced. */
export type AgentKind = 'agent' | 'daemon' | 'reach' | 'check' | 'expose' | 'dev' | 'proxy';

export interface ConnectAgentOptions {
  /** Where the connection's events go: connected, reconnecting, and its internals' notices. */
  events?: AgentEventSink;
  /** Streams the hub opens towards this process (it serves exposed services). */
  onOpen?: (req: OpenRequest) => void;
}

/**
 * The one place a hub session is built from this machine's sign-in. Not started: the caller decides whether
 * the first attempt must succeed (`start(true)`) or may retry in the background.
 */
export function connectAgent(
  credentials: Pick<Credentials, 'hubUrl' | 'apiKey' | 'agentId' | 'agentSecret'>,
  kind: AgentKind,
  opts: ConnectAgentOptions = {},
): HubConnection {
  const events = opts.events;
  const conn = new HubConnection({
    hubUrl: credentials.hubUrl,
    apiKey: credentials.apiKey,
    agentId: credentials.agentId,
    agentSecret: credentials.agentSecret,
    kind,
    ...(events && { log: noticeLogger(events) }),
    ...(opts.onOpen && { onOpen: opts.onOpen }),
  });
  if (events) {
    conn.on('connected', () => events({ type: 'hub-connected', hubUrl: credentials.hubUrl }));
    conn.on('reconnecting', (r: { reason: string; delayMs: number; attempt: number }) =>
      events({ type: 'hub-reconnecting', ...r }),
    );
  }
  return conn;
}
