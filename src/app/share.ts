/**
 * `connect share` below the CLI: create, list and revoke shares with this machine's sign-in, and reach a shared
 * service with nothing but a share token (no sign-in, no API key: the token names its hub).
 */
import type { Credentials } from '../config/credentials.js';
import { HubApi } from '../agent/hub-api.js';
import { connectAgent } from '../agent/connect-agent.js';
import { openServiceStream, reachService } from '../agent/reacher.js';
import type { HubConnection } from '../agent/hub-connection.js';
import type { StreamReset } from '../protocol/stream.js';
import { ResetCode } from '../protocol/frames.js';
import { resetCodeOf } from '../api/error-catalogue.js';
import type { AgentEventSink } from '../agent/agent-events.js';
import type { ServiceName } from '../api/service-name.js';
import { ConnectError, ErrorCodes } from '../api/errors.js';
import {
  DEFAULT_SHARE_LIFETIME_MS,
  MAX_SHARE_LIFETIME_MS,
  MAX_SHARE_TO_LENGTH,
  formatShareToken,
  parseShareToken,
  type ShareView,
} from '../api/share.js';
import { parseDuration } from './key-admin.js';
import { reachSessionOf, type ReachSession } from './reach-session.js';

export interface CreatedShare extends ShareView {
  /** The token: shown this once, never retrievable (the hub keeps only the hash of its secret). */
  token: string;
}

/** `--expires` of a share: a duration up to MAX_SHARE_LIFETIME_MS (default DEFAULT_SHARE_LIFETIME_MS). */
export function parseShareLifetime(text: string | undefined): number {
  if (text === undefined) return DEFAULT_SHARE_LIFETIME_MS;
  const ms = parseDuration(text, '--expires');
  if (ms > MAX_SHARE_LIFETIME_MS) {
    throw new ConnectError(
      ErrorCodes.BAD_INPUT,
      `invalid --expires '${text}': a share lives at most ${MAX_SHARE_LIFETIME_MS / 86_400_000}d`,
    );
  }
  return ms;
}

export async function createShare(
  credentials: Credentials,
  name: ServiceName,
  opts: { expires?: string | undefined; to?: string | undefined },
): Promise<CreatedShare> {
  const expiresInMs = parseShareLifetime(opts.expires);
  const to = opts.to?.trim();
  if (to !== undefined && (to === '' || to.length > MAX_SHARE_TO_LENGTH)) {
    throw new ConnectError(ErrorCodes.BAD_INPUT, `--to must be 1 to ${MAX_SHARE_TO_LENGTH} characters`);
  }
  const api = new HubApi(credentials.hubUrl, credentials.apiKey);
  const { secret, ...view } = await api.createShare({ service: name, expiresInMs, ...(to && { to }) });
  return { ...view, token: formatShareToken(credentials.hubUrl, view.id, secret) };
}

export function listShares(credentials: Credentials): Promise<ShareView[]> {
  return new HubApi(credentials.hubUrl, credentials.apiKey).shares();
}

export function revokeShare(credentials: Credentials, id: string): Promise<void> {
  return new HubApi(credentials.hubUrl, credentials.apiKey).revokeShare(id);
}

/** The hub a token names, and what a hub session built from it needs; BAD_INPUT for anything else. */
export function shareCredentials(
  token: string,
): Pick<Credentials, 'hubUrl' | 'apiKey' | 'agentId' | 'agentSecret'> {
  const parsed = parseShareToken(token);
  if (!parsed) {
    throw new ConnectError(
      ErrorCodes.BAD_INPUT,
      'invalid --token: a share token looks like pcs_<hub>.shr_<id>.<secret> (from `connect share`)',
    );
  }
  // The hub recognises the token in place of an API key and opens a `share` session (no agent registration).
  return { hubUrl: parsed.hubUrl, apiKey: token.trim(), agentId: 'share', agentSecret: undefined };
}

/** How long the first dial of a shared service may take before `reach --token` listens anyway. */
const SHARE_PROBE_MS = 5000;

/**
 * Dials `name` once: a token for another service (or a service that no longer exists) fails here, with the hub's
 * one line, instead of at the first local connection. An unreachable target or a slow answer does not fail.
 */
async function probeShare(conn: HubConnection, name: ServiceName): Promise<void> {
  const stream = await openServiceStream(conn, name);
  const reset = await new Promise<StreamReset | undefined>((resolve) => {
    const timer = setTimeout(() => resolve(undefined), SHARE_PROBE_MS);
    stream.once('accept', () => {
      clearTimeout(timer);
      resolve(undefined);
    });
    stream.once('reset', (info: StreamReset) => {
      clearTimeout(timer);
      resolve(info);
    });
  });
  if (!stream.closed) stream.reset(ResetCode.CANCEL, 'share probe done');
  if (reset?.code === resetCodeOf(ErrorCodes.FORBIDDEN))
    throw new ConnectError(ErrorCodes.FORBIDDEN, reset.reason);
  if (reset?.code === resetCodeOf(ErrorCodes.NOT_FOUND))
    throw new ConnectError(ErrorCodes.NOT_FOUND, reset.reason);
}

/**
 * `connect reach <name> --token <share>`: listens on `host:port` (default: a free port) and forwards each
 * connection to `name` through the hub named by the token. Fails at once when the hub refuses the token.
 */
export async function openShareReach(
  token: string,
  name: ServiceName,
  opts: { host: string; port?: number | undefined; exact?: boolean | undefined },
  events: AgentEventSink,
): Promise<ReachSession> {
  const conn = connectAgent(shareCredentials(token), 'reach', { events });
  await conn.start(true);
  let listener;
  try {
    await probeShare(conn, name);
    listener = await reachService(conn, name, {
      host: opts.host,
      port: opts.port ?? 0,
      exact: opts.exact,
      events,
    });
  } catch (err) {
    conn.stop();
    throw err;
  }
  return reachSessionOf(name, opts.host, listener, 'online', conn);
}
