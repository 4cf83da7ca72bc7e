import { hostname } from 'node:os';
import { createInterface } from 'node:readline/promises';
import { HubApi } from './hub-api.js';
import { loadCredentials, resolveHubUrl, saveCredentials, type Credentials } from '../config/credentials.js';
import { ConnectError, ErrorCodes } from '../api/errors.js';
import type { AgentEventSink } from './agent-events.js';

export interface SignInOptions {
  hub?: string | undefined;
  apiKey?: string | undefined;
  label?: string | undefined;
  name?: string | undefined;
  /** Ask for a key on the terminal when none is given (only when stdin is a TTY). */
  interactive: boolean;
  /** Where sign-in reports what the operator should know (a renewed identity). */
  events?: AgentEventSink | undefined;
}

export interface SignInResult {
  credentials: Credentials;
  /** True when a new agent identity was registered at the hub. */
  registered: boolean;
}

async function promptForKey(hubUrl: string): Promise<string> {
  const rl = createInterface({ input: process.stdin, output: process.stdout });
  try {
    return (await rl.question(`API key for ${hubUrl}: `)).trim();
  } finally {
    rl.close();
  }
}

/**
 * Makes sure this machine has a valid agent identity at the hub: reuses the saved one when it still holds,
 * registers a new one otherwise (first run, another hub, another key, or the hub forgot the agent).
 */
export async function signIn(opts: SignInOptions): Promise<SignInResult> {
  const saved = loadCredentials();
  const hubUrl = resolveHubUrl(opts.hub, saved);
  const sameHub = saved?.hubUrl === hubUrl;
  let apiKey = opts.apiKey ?? process.env.PRIVATECONNECT_TOKEN ?? (sameHub ? saved?.apiKey : undefined);
  if (!apiKey && opts.interactive && process.stdin.isTTY) apiKey = await promptForKey(hubUrl);
  if (!apiKey) {
    throw new ConnectError(
      ErrorCodes.NOT_SIGNED_IN,
      'no API key: pass --api-key or set PRIVATECONNECT_TOKEN',
      `Create one where the hub runs: connect hub keys create`,
    );
  }
  const api = new HubApi(hubUrl, apiKey);
  const me = await api.whoami();
  // The hub accepts labels of up to 63 characters; a long host name is cut rather than refused.
  const label = opts.label ?? (sameHub ? saved?.label : undefined) ?? hostname().slice(0, 63);
  const name = opts.name ?? (sameHub ? (saved?.name ?? undefined) : undefined);

  // An identity saved before agent credentials has no secret, and the hub refuses it at the upgrade: register anew.
  const legacy = saved !== undefined && sameHub && saved.apiKey === apiKey && saved.agentSecret === undefined;
  if (saved && sameHub && saved.apiKey === apiKey && !legacy) {
    try {
      let agent = await api.agent(saved.agentId);
      if ((opts.label && opts.label !== agent.label) || (opts.name && opts.name !== agent.name)) {
        agent = await api.updateAgent(saved.agentId, {
          ...(opts.label && { label: opts.label }),
          ...(opts.name && { name: opts.name }),
        });
      }
      const credentials: Credentials = {
        ...saved,
        label: agent.label,
        name: agent.name,
        workspace: me.workspace,
      };
      saveCredentials(credentials);
      return { credentials, registered: false };
    } catch (err) {
      if (!(err instanceof ConnectError && err.code === ErrorCodes.NOT_FOUND)) throw err;
      // The hub no longer knows this agent (new data dir, other workspace): register afresh below.
    }
  }

  const agent = await api.registerAgent(label, name);
  if (legacy) opts.events?.({ type: 'identity-renewed', oldAgentId: saved.agentId, agentId: agent.id });
  const credentials: Credentials = {
    hubUrl,
    apiKey,
    agentId: agent.id,
    agentSecret: agent.secret,
    label: agent.label,
    name: agent.name,
    workspace: me.workspace,
    createdAt: new Date().toISOString(),
  };
  saveCredentials(credentials);
  return { credentials, registered: true };
}

/**
 * Sign-in for the foreground agent: an unreachable hub is not fatal. With a saved identity for that hub the
 * agent starts at once (its connection retries); without one, sign-in itself is retried with backoff, visibly.
 */
export async function signInPersistently(
  opts: SignInOptions,
  events: AgentEventSink,
): Promise<SignInResult & { verified: boolean }> {
  for (let attempt = 0; ; attempt++) {
    try {
      return { ...(await signIn({ ...opts, events: opts.events ?? events })), verified: true };
    } catch (err) {
      if (!(err instanceof ConnectError && err.code === ErrorCodes.HUB_UNREACHABLE)) throw err;
      const saved = loadCredentials();
      const usable =
        saved &&
        saved.hubUrl === resolveHubUrl(opts.hub, saved) &&
        saved.agentSecret !== undefined &&
        (opts.apiKey === undefined || opts.apiKey === saved.apiKey);
      if (usable) {
        events({ type: 'sign-in-deferred', reason: err.message });
        return { credentials: saved, registered: false, verified: false };
      }
      const delay = Math.min(30_000, 500 * 2 ** Math.min(attempt, 6)) * (0.5 + Math.random() / 2);
      events({ type: 'sign-in-retrying', reason: err.message, delayMs: delay });
      await new Promise((r) => setTimeout(r, delay));
    }
  }
}
