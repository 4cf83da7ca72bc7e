import type { Command } from 'commander';
import { signIn, signInPersistently } from '../agent/sign-in.js';
import { runAgent } from '../agent/runtime.js';
import { runningAgent } from '../agent/agent-lock.js';
import type { LogFn } from '../agent/hub-connection.js';
import { action } from './run.js';
import { line, ok, timestamp } from './output.js';
import { ConnectError, ErrorCodes } from '../util/errors.js';
import { paths } from '../config/paths.js';
import { startLogRotation } from '../daemon/log-file.js';

/** Agent log lines, time-stamped as the daemon seed shows them. */
export const agentLog: LogFn = (level, message) => {
  const out = level === 'info' ? process.stdout : process.stderr;
  out.write(`${timestamp()} ${message}\n`);
};

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
    .option('--config <path>', 'accepted for the daemon seed; pconnect.yml is read by `connect dev`')
    .option('--auth-only', 'sign in, save the identity and exit')
    .action(
      action(
        async (opts: {
          hub?: string;
          apiKey?: string;
          label?: string;
          name?: string;
          authOnly?: boolean;
        }) => {
          if (!opts.authOnly) agentLog('info', '🚀 Starting Private Connect Agent...');
          const signInOptions = { ...opts, interactive: true };
          if (opts.authOnly) {
            const { credentials, registered } = await signIn(signInOptions);
            ok(
              `${registered ? 'Registered' : 'Signed in'} as ${credentials.label} (${credentials.agentId}) at ${credentials.hubUrl}`,
            );
            line(`  Workspace: ${credentials.workspace}`);
            return;
          }
          const { credentials, verified } = await signInPersistently(signInOptions, agentLog);
          if (verified) agentLog('info', '[ok] Registered with hub');
          const other = runningAgent();
          if (other && other.pid !== process.pid) {
            throw new ConnectError(
              ErrorCodes.CONFLICT,
              `an agent for this identity is already running (pid ${other.pid})`,
              'Stop it first (connect daemon stop), or use that one.',
            );
          }
          const agent = runAgent(credentials, agentLog);
          // As the daemon, stdout/stderr append to the daemon log: keep it under its size cap.
          if (process.env.CONNECT_DAEMON === '1') startLogRotation(paths.daemonLog());
          const stop = (): void => {
            agentLog('info', 'Stopping agent...');
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
