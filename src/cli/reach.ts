import type { Command } from 'commander';
import { requireCredentials } from '../config/credentials.js';
import { parseListenPort } from '../util/parse.js';
import { parseServiceName } from '../api/service-name.js';
import { ConnectError, ErrorCodes, isConnectError } from '../api/errors.js';
import { isGrantRefusal } from '../api/grants.js';
import { checkReach, openReachSession } from '../app/reach-session.js';
import { openShareReach } from '../app/share.js';
import { action } from './run.js';
import { agentEvents, colour, line, ok, printJson, recordEvent, warn } from './output.js';

interface ReachFlags {
  host: string;
  check?: boolean;
  json?: boolean;
  exact?: boolean;
  token?: string;
}

export function registerReach(program: Command): void {
  program
    .command('reach')
    .description('Reach a service by name on a local port')
    .argument('<name>', 'service name')
    .argument('[localPort]', 'local port (default: the service’s target port; the next free one if taken)')
    .option('--host <host>', 'local address to listen on', '127.0.0.1')
    .option('--exact', 'fail instead of auto-selecting when the port is taken')
    .option(
      '--check',
      'dial through the whole path, report whether the service answers and the latency, then exit',
    )
    .option(
      '--token <share>',
      'reach with a share token (from `connect share`) instead of this machine’s sign-in',
    )
    .option('--json', 'print as JSON')
    .action(
      action(async (rawName: string, rawPort: string | undefined, flags: ReachFlags) => {
        const name = parseServiceName(rawName);
        const wantedPort = rawPort === undefined ? undefined : parseListenPort(rawPort, 'local port');
        if (flags.token !== undefined && flags.check)
          throw new ConnectError(
            ErrorCodes.BAD_INPUT,
            '--check needs a sign-in: it cannot be used with --token',
          );
        const credentials = flags.token === undefined ? requireCredentials() : undefined;

        if (flags.check && credentials) {
          const result = await checkReach(credentials, name).catch((err: unknown) => {
            if (flags.json && isConnectError(err) && err.code === ErrorCodes.SERVICE_OFFLINE)
              printJson({ name, ok: false, status: 'offline', reason: 'service is offline' });
            throw err;
          });
          if (flags.json) printJson({ name, ...result });
          if (!result.ok && isGrantRefusal(name, result.reason))
            throw new ConnectError(ErrorCodes.FORBIDDEN, result.reason);
          if (!result.ok)
            throw new ConnectError(
              ErrorCodes.TARGET_UNREACHABLE,
              `${name} does not answer: ${result.reason ?? 'unknown reason'}`,
            );
          if (!flags.json) ok(`${name} answers (${result.latencyMs.toFixed(1)} ms through the hub)`);
          return;
        }

        // The first connection is announced by the summary below; only reconnections get a log line.
        let announced = false;
        const events = agentEvents((e) => e.type === 'hub-connected' && !announced);
        const where = { host: flags.host, port: wantedPort, exact: flags.exact };
        const session = credentials
          ? await openReachSession(credentials, name, where, events)
          : await openShareReach(flags.token ?? '', name, where, events);
        const display = `${flags.host === '127.0.0.1' ? 'localhost' : flags.host}:${session.localPort}`;
        if (flags.json) {
          printJson({
            name,
            host: flags.host,
            localPort: session.localPort,
            autoSelected: session.autoSelected,
            status: session.status,
          });
        } else {
          ok(`Reaching ${colour.bold(name)}`);
          line(`  → ${display}${session.autoSelected ? ' (auto-selected)' : ''}`);
          if (session.status === 'offline')
            warn(`${name} is offline right now; connections will work once its agent is back`);
          line(colour.dim('  Press Ctrl+C to stop'));
        }
        announced = true;
        recordEvent({
          type: 'reaching',
          name,
          host: flags.host,
          localPort: session.localPort,
          autoSelected: session.autoSelected,
        });
        const stop = (): void => {
          void session.close().finally(() => process.exit(0));
          setTimeout(() => process.exit(0), 2000).unref();
        };
        process.on('SIGINT', stop);
        process.on('SIGTERM', stop);
        throw await new Promise<Error>((resolve) => session.conn.once('fatal', resolve));
      }),
    );
}
