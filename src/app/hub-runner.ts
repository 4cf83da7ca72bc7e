/**
 * The hub as the CLI starts it: `hub start` calls `runHub` and names the limits through this module, so that no
 * client-side module (src/cli) imports the hub's internals. The web framework and the database drivers are
 * loaded only when a hub really starts, so that `hub keys …` and the other commands stay light.
 */
import type { Logger } from '../util/logger.js';
import type { Hub, HubOptions } from '../hub/server.js';

export { DEFAULT_HUB_LIMITS, hubLimits, type HubLimits } from '../hub/limits.js';
export type { Hub, HubOptions } from '../hub/server.js';

/**
 * Starts a hub and, once it runs, installs the crash guards: a failure to start must still end the process
 * with its one-line error, a crash afterwards is logged and survived.
 */
export async function runHub(opts: HubOptions & { logger: Logger }): Promise<Hub> {
  const { startHub } = await import('../hub/server.js');
  const { installCrashGuards } = await import('../hub/crash-guard.js');
  const hub = await startHub(opts);
  installCrashGuards(opts.logger);
  return hub;
}
