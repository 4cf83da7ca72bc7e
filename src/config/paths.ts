import { homedir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Every file the product keeps on a user's machine. Resolved on each call (not at import time) so that
 * tests can point HOME at a temporary folder per agent.
 */
export function home(): string {
  return process.env.HOME ?? homedir();
}

/** ~/.connect: agent identity, credentials, active routes, persisted exposures, proxy state. */
export function connectDir(): string {
  return join(home(), '.connect');
}

export const paths = {
  credentials: (): string => join(connectDir(), 'credentials.json'),
  activeRoutes: (): string => join(connectDir(), 'active-routes.json'),
  exposures: (): string => join(connectDir(), 'exposures.json'),
  agentLock: (): string => join(connectDir(), 'agent.json'),
  proxyPid: (): string => join(connectDir(), 'proxy.pid'),
  proxyLog: (): string => join(connectDir(), 'proxy.log'),
  /** ~/.privateconnect: the daemon's pid and log, as the daemon seed names them. */
  daemonDir: (): string => join(home(), '.privateconnect'),
  daemonPid: (): string => join(home(), '.privateconnect', 'daemon.pid'),
  daemonLog: (): string => join(home(), '.privateconnect', 'daemon.log'),
  /** Default data folder of a hub started on this machine. */
  hubDataDir: (): string => join(home(), '.connect', 'hub'),
};

/** Absolute path of this installation's CLI entry point (dist/cli/main.js), for spawning background processes. */
export function cliEntryPoint(): string {
  return fileURLToPath(new URL('../cli/main.js', import.meta.url));
}

/** Shows a path with the home folder abbreviated to ~, as the seeds print them. */
export function tildify(path: string): string {
  const h = home();
  return path.startsWith(h + '/') ? '~' + path.slice(h.length) : path;
}
