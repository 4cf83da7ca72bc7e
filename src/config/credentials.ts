import { paths, tildify } from './paths.js';
import { readFileIfExists, writeJsonAtomic } from './atomic-file.js';
import { ConnectError, ErrorCodes } from '../api/errors.js';

/** The agent's identity on this machine, saved by `connect up` (mode 0600, written atomically). */
export interface Credentials {
  hubUrl: string;
  apiKey: string;
  agentId: string;
  /**
   * The secret the hub issued this agent at registration (required at every connection). Absent in files written
   * before agent credentials existed: `connect up` then registers a new agent (see sign-in.ts).
   */
  agentSecret?: string;
  label: string;
  name: string | null;
  workspace: string;
  createdAt: string;
}

/** The hub used when neither --hub, a saved sign-in nor CONNECT_HUB_URL names one: `npm start`'s hub. */
export const BUILTIN_HUB_URL = 'http://127.0.0.1:8787';

const signInHint = 'Run `connect up --api-key <key>` to sign in again.';

export function loadCredentials(): Credentials | undefined {
  const file = paths.credentials();
  const text = readFileIfExists(file);
  if (text === undefined) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new ConnectError(
      ErrorCodes.CREDENTIALS_CORRUPT,
      `the credentials file ${tildify(file)} is not valid JSON`,
      signInHint,
    );
  }
  const c = value as Partial<Credentials> | null;
  const strings = ['hubUrl', 'apiKey', 'agentId', 'label'] as const;
  if (!c || typeof c !== 'object' || strings.some((k) => typeof c[k] !== 'string' || c[k] === '')) {
    throw new ConnectError(
      ErrorCodes.CREDENTIALS_CORRUPT,
      `the credentials file ${tildify(file)} is incomplete or corrupt`,
      signInHint,
    );
  }
  return {
    hubUrl: c.hubUrl!,
    apiKey: c.apiKey!,
    agentId: c.agentId!,
    ...(typeof c.agentSecret === 'string' && c.agentSecret !== '' && { agentSecret: c.agentSecret }),
    label: c.label!,
    name: typeof c.name === 'string' ? c.name : null,
    workspace: typeof c.workspace === 'string' ? c.workspace : '',
    createdAt: typeof c.createdAt === 'string' ? c.createdAt : '',
  };
}

export function saveCredentials(credentials: Credentials): void {
  writeJsonAtomic(paths.credentials(), credentials, 0o600);
}

/** Loads the credentials or explains how to sign in. */
export function requireCredentials(): Credentials {
  const credentials = loadCredentials();
  if (!credentials) {
    throw new ConnectError(
      ErrorCodes.NOT_SIGNED_IN,
      'this machine is not signed in to a hub',
      'Run `connect up` first.',
    );
  }
  return credentials;
}

/**
 * The hub to talk to: an explicit --hub wins, then the hub this agent signed in to, then CONNECT_HUB_URL,
 * then the built-in default. A saved hub is never silently replaced by a default.
 */
export function resolveHubUrl(flag: string | undefined, saved: Credentials | undefined): string {
  const url = flag ?? saved?.hubUrl ?? process.env.CONNECT_HUB_URL ?? BUILTIN_HUB_URL;
  return normalizeHubUrl(url);
}

export function normalizeHubUrl(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new ConnectError(ErrorCodes.BAD_INPUT, `invalid hub URL '${url}': expected http(s)://host[:port]`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new ConnectError(ErrorCodes.BAD_INPUT, `invalid hub URL '${url}': use http:// or https://`);
  }
  return parsed.origin + parsed.pathname.replace(/\/+$/, '');
}
