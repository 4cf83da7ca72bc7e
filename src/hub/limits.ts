/**
 * Every bound the hub puts on what one peer may hold or send. The hub is shared by every workspace: one
 * misbehaving or malicious key holder must never take it down, fill its memory or hold its sockets. Each value
 * here is crossed by a test (test/hostile-peer.test.ts, test/hub-limits.test.ts) that checks the offender gets a
 * clear reason and everyone else keeps working.
 *
 * The defaults fit one hub on a small machine; operators change them with `connect hub start` flags (see
 * src/cli/hub.ts), which fill a `HubLimits` object passed to startHub.
 */

export interface HubLimits {
  /** Streams (accepted, spliced and waiting for a decision) one agent session may hold at once. */
  streamsPerSession: number;
  /** OPENs of one session waiting for the hub's decision (an async store lookup): the accept backlog. */
  pendingOpensPerSession: number;
  /** Bytes of DATA the hub holds for one session's OPENs still waiting for a decision, all of them together. */
  pendingBytesPerSession: number;
  /**
   * Largest per-stream window the hub relays; an OPEN asking for more is relayed with this window (its opener then
   * gets RST FLOW_CONTROL if it sends beyond it). At least the agents' DEFAULT_INITIAL_WINDOW.
   */
  maxStreamWindow: number;
  /**
   * Bytes a session's socket may hold unsent beyond the windows of the streams that flow toward it. A peer that
   * grants credit but does not read crosses it and is closed.
   */
  unsentSlackBytes: number;
  /** Cap on the window part of that bound, so ten thousand idle streams do not license gigabytes of buffer. */
  unsentWindowCapBytes: number;
  /** CONTROL messages one session may send: a burst of this many, refilled at this rate per second. */
  controlBurst: number;
  controlPerSecond: number;
  /** WebSocket sessions open at once under one API key. */
  sessionsPerKey: number;
  /** Services one workspace may register. */
  servicesPerWorkspace: number;
  /** Tunnel ports one workspace may hold, so one tenant cannot take the whole range. */
  tunnelPortsPerWorkspace: number;
  /** Connections open at once on one tunnel port. */
  connectionsPerTunnelPort: number;
  /** Connections open at once on the HTTP API + agent endpoint (node's server.maxConnections). */
  httpConnections: number;
  /** A request's headers (the upgrade's too) must arrive within this (slowloris). */
  headersTimeoutMs: number;
  /** A whole API request must arrive within this. */
  requestTimeoutMs: number;
  /** From the upgrade request to the 101: authentication must finish within this. */
  upgradeTimeoutMs: number;
  /** A refused upgrade is answered, then its socket destroyed after this, whether or not the client closes. */
  refusedSocketGraceMs: number;
}

/**
 * Fragments one WebSocket message may arrive in (our agents send one; a million 1-byte fragments is an attack).
 * Enforced by the frame reader, so defined beside it; listed here with the other bounds.
 */
export { MAX_FRAGMENTS_PER_MESSAGE } from '../protocol/ws-codec.js';

export const DEFAULT_HUB_LIMITS: Readonly<HubLimits> = Object.freeze({
  // Above the 10,000 idle streams one reach session carries in `npm run bench`.
  streamsPerSession: 16_384,
  pendingOpensPerSession: 256,
  pendingBytesPerSession: 4 * 1024 * 1024,
  maxStreamWindow: 16 * 1024 * 1024,
  unsentSlackBytes: 8 * 1024 * 1024,
  unsentWindowCapBytes: 64 * 1024 * 1024,
  // Above servicesPerWorkspace: an agent re-registers all its services at once when it reconnects.
  controlBurst: 1000,
  controlPerSecond: 50,
  // Every `up`, `reach`, `proxy` and `dev` process holds a session, and a dead one counts until it times out.
  sessionsPerKey: 256,
  servicesPerWorkspace: 500,
  tunnelPortsPerWorkspace: 100,
  connectionsPerTunnelPort: 1024,
  httpConnections: 10_000,
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  upgradeTimeoutMs: 10_000,
  refusedSocketGraceMs: 2_000,
});

/** The defaults with some values replaced (tests and `hub start` flags). */
export function hubLimits(overrides: Partial<HubLimits> = {}): HubLimits {
  return { ...DEFAULT_HUB_LIMITS, ...overrides };
}
