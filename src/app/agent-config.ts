/**
 * `connect up --config FILE` below the CLI: the exposures a pconnect.yml lists, and the hub it names, which is a
 * checked-out file's word, not the user's. Its hub is parsed like --hub (src/config/pconnect.ts); a token from the
 * environment (PRIVATECONNECT_TOKEN) goes to it only when the user said so: --hub given, or the file's hub is the one
 * this machine signed in to. Otherwise a file in a repository could collect the token of whoever runs `up` there.
 */
import { displayPath, loadConfig } from '../config/pconnect.js';
import { loadCredentials, normalizeHubUrl } from '../config/credentials.js';
import type { Exposure } from '../config/exposures.js';
import { parseServiceName } from '../api/service-name.js';
import { ConnectError, ErrorCodes } from '../api/errors.js';

export const ENV_TOKEN = 'PRIVATECONNECT_TOKEN';

export interface AgentConfig {
  /** The hub to sign in to: --hub, else the file's (checked as trusted), else undefined (the usual choice). */
  hub?: string;
  exposures: Exposure[];
}

/** The file's hub, refused when it would receive the environment's token without the user having named it. */
export function trustedFileHub(
  fileHub: string,
  flags: { apiKey?: string | undefined },
  file: string,
  env: NodeJS.ProcessEnv = process.env,
): string {
  const hub = normalizeHubUrl(fileHub);
  const envToken = env[ENV_TOKEN];
  if (flags.apiKey !== undefined || !envToken) return hub;
  const saved = loadCredentials();
  if (saved && normalizeHubUrl(saved.hubUrl) === hub) return hub;
  throw new ConnectError(
    ErrorCodes.BAD_CONFIG,
    `${file} names the hub ${hub}, which this machine is not signed in to: ${ENV_TOKEN} is not sent to a hub named only by a file (pass --hub ${hub} to trust it)`,
  );
}

/** Reads `up --config FILE` (errors carry line and column) and decides which hub the agent signs in to. */
export function loadAgentConfig(
  path: string,
  flags: { hub?: string | undefined; apiKey?: string | undefined },
): AgentConfig {
  const shown = displayPath(path);
  const config = loadConfig(path, shown);
  const exposures = (config.expose ?? []).map((e) => ({
    name: parseServiceName(e.name),
    targetHost: e.host ?? 'localhost',
    targetPort: e.port,
    protocol: e.protocol ?? 'tcp',
    createdAt: new Date().toISOString(),
  }));
  // --hub is the user's own choice and wins over the file's.
  if (flags.hub !== undefined) return { hub: flags.hub, exposures };
  if (config.hub === undefined) return { exposures };
  return { hub: trustedFileHub(config.hub, flags, shown), exposures };
}
