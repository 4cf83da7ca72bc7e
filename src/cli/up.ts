import type { Command } from 'commander';
import { signIn, signInPersistently } from '../agent/sign-in.js';
import { runAgent } from '../agent/runtime.js';
import { runningAgent } from '../agent/agent-lock.js';
import { action } from './run.js';
import { agentEvents, line, ok } from './output.js';
import { ConnectError, ErrorCodes } from '../api/errors.js';
import { paths } from '../config/paths.js';
import { startLogRotation } from '../daemon/log-file.js';
import { loadAgentConfig } from '../app/agent-config.js';

export function registerUp(program: Command): void {
  program
    .command('up')
    .description('Sign this machine in to a hub and run the agent in the foreground')
    .option(
      '--hub <url>',
      'hub URL (default: the saved hub, else CONNECT_HUB_URL, else http://127.0.0.1:8787)',
    )
    .option('--api-key <key>', 'API key to sign in with (or PRIVATECONNECT_TOKEN)')
    .option('--label <label>', 'how this agent is shown to others (default: the host name)')
    .option('--name <name>', 'a short name for this agent')
    .option(
      '--config <path>',
      'a pconnect.yml whose `hub` and `expose` list this agent uses (PRIVATECONNECT_TOKEN goes to its hub only with --hub or a sign-in there)',
    )
    .option('--auth-only', 'sign in, save the identity and exit')
    .action(
      action(
        async (opts: {
          hub?: string;
          apiKey?: string;
          label?: string;
          name?: string;
          authOnly?: boolean;
          config?: string;
        }) => {
          // --hub wins; a file's hub is used only where the environment's token may go (app/agent-config.ts).
          const file = opts.config === undefined ? undefined : loadAgentConfig(opts.config, opts);
          if (file?.hub !== undefined) opts.hub = file.hub;
          const events = agentEvents();
          if (!opts.authOnly) events({ type: 'agent-starting' });
          const signInOptions = { ...opts, interactive: true };
          if (opts.authOnly) {
            const { credentials, registered } = await signIn(signInOptions);
            ok(
              `${registered ? 'Registered' : 'Signed in'} as ${credentials.label} (${credentials.agentId}) at ${credentials.hubUrl}`,
            );
            line(`  Workspace: ${credentials.workspace}`);
            return;
          }
          const { credentials, verified } = await signInPersistently(signInOptions, events);
          if (verified) events({ type: 'registered' });
          const other = runningAgent();
          if (other && other.pid !== process.pid) {
            throw new ConnectError(
              ErrorCodes.CONFLICT,
              `an agent for this identity is already running (pid ${other.pid})`,
              'Stop it first (connect daemon stop), or use that one.',
            );
          }
          const agent = runAgent(credentials, events, file?.exposures ?? []);
          // As the daemon, stdout/stderr append to the daemon log: keep it under its size cap.
          if (process.env.CONNECT_DAEMON === '1') startLogRotation(paths.daemonLog());
          const stop = (): void => {
            events({ type: 'agent-stopping' });
            agent.stop();
            process.exit(0);
          };
          process.on('SIGINT', stop);
          process.on('SIGTERM', stop);
          const err = await agent.fatal;
          agent.stop();
          throw err;
        },
      ),
    );
}
