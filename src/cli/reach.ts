import type { Command } from 'commander';
import { requireCredentials } from '../config/credentials.js';
import { addActiveRoute, removeActiveRoutes } from '../config/active-routes.js';
import { HubApi } from '../agent/hub-api.js';
import { HubConnection } from '../agent/hub-connection.js';
import { reachService } from '../agent/reacher.js';
import { checkService } from '../agent/health-check.js';
import { requireService } from '../agent/service-lookup.js';
import { parseListenPort } from '../util/parse.js';
import { parseServiceName } from '../api/service-name.js';
import { ConnectError, ErrorCodes } from '../api/errors.js';
import { action } from './run.js';
import { reportStatsPeriodically } from '../agent/stats-reporter.js';
import { agentLog, colour, line, ok, printJson, warn } from './output.js';

interface ReachFlags {
  host: string;
  check?: boolean;
  json?: boolean;
  exact?: boolean;
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
    .option('--json', 'print as JSON')
    .action(
      action(async (rawName: string, rawPort: string | undefined, flags: ReachFlags) => {
        const name = parseServiceName(rawName);
        const wantedPort = rawPort === undefined ? undefined : parseListenPort(rawPort, 'local port');
        const credentials = requireCredentials();
        const api = new HubApi(credentials.hubUrl, credentials.apiKey);
        const service = await requireService(api, name);

        const conn = new HubConnection({
          hubUrl: credentials.hubUrl,
          apiKey: credentials.apiKey,
          agentId: credentials.agentId,
          kind: flags.check ? 'check' : 'reach',
          log: agentLog,
        });

        if (flags.check) {
          if (service.status === 'offline') {
            if (flags.json) printJson({ name, ok: false, status: 'offline', reason: 'service is offline' });
            throw new ConnectError(
              ErrorCodes.SERVICE_OFFLINE,
              `${name} is offline: its agent is not connected to the hub`,
            );
          }
          await conn.start(true);
          const result = await checkService(conn, name);
          conn.stop();
          if (flags.json) printJson({ name, status: service.status, ...result });
          if (!result.ok)
            throw new ConnectError(
              ErrorCodes.TARGET_UNREACHABLE,
              `${name} does not answer: ${result.reason ?? 'unknown reason'}`,
            );
          if (!flags.json) ok(`${name} answers (${result.latencyMs.toFixed(1)} ms through the hub)`);
          return;
        }

        reportStatsPeriodically(conn);
        await conn.start(true);
        const listener = await reachService(conn, name, {
          host: flags.host,
          port: wantedPort ?? service.targetPort,
          exact: flags.exact,
          log: agentLog,
        });
        await addActiveRoute({
          serviceName: name,
          localPort: listener.port,
          pid: process.pid,
          startedAt: new Date().toISOString(),
        });
        const display = `${flags.host === '127.0.0.1' ? 'localhost' : flags.host}:${listener.port}`;
        if (flags.json) {
          printJson({
            name,
            host: flags.host,
            localPort: listener.port,
            autoSelected: listener.autoSelected,
            status: service.status,
          });
        } else {
          ok(`Reaching ${colour.bold(name)}`);
          line(`  → ${display}${listener.autoSelected ? ' (auto-selected)' : ''}`);
          if (service.status === 'offline')
            warn(`${name} is offline right now; connections will work once its agent is back`);
          line(colour.dim('  Press Ctrl+C to stop'));
        }
        conn.on('connected', () => agentLog('info', '[ok] Connected to hub via WebSocket'));
        const stop = (): void => {
          conn.stop();
          void Promise.all([listener.close(), removeActiveRoutes(process.pid, name)]).finally(() =>
            process.exit(0),
          );
          setTimeout(() => process.exit(0), 2000).unref();
        };
        process.on('SIGINT', stop);
        process.on('SIGTERM', stop);
        throw await new Promise<Error>((resolve) => conn.once('fatal', resolve));
      }),
    );
}
