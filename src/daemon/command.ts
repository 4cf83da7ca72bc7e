import { dirname, resolve } from 'node:path';
import { cliEntryPoint } from '../config/paths.js';

/** The label/unit names the service is installed under (as the seed names them). */
export const SYSTEMD_UNIT_NAME = 'private-connect.service';
export const LAUNCHD_LABEL = 'co.privateconnect.agent';

/** How the daemon runs the agent: this Node binary, this installation's CLI entry point, `up --hub URL`. */
export interface AgentCommand {
  /** Absolute path of the Node binary. */
  node: string;
  /** Arguments after the binary: [absolute main.js, 'up', '--hub', url, ...]. */
  args: string[];
}

export function agentCommand(opts: {
  hubUrl: string;
  config?: string | undefined;
  node?: string;
  script?: string;
}): AgentCommand {
  const args = [opts.script ?? cliEntryPoint(), 'up', '--hub', opts.hubUrl];
  if (opts.config !== undefined) args.push('--config', resolve(opts.config));
  return { node: opts.node ?? process.execPath, args };
}

/** PATH for a service: the folder of this Node binary first (so `#!/usr/bin/env node` tools agree), then the system's. */
export function servicePath(node: string): string {
  const dirs = [dirname(node), '/usr/local/bin', '/usr/bin', '/bin'];
  return [...new Set(dirs)].join(':');
}
