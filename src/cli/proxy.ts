import type { Command } from 'commander';
import {
  fetchProxyInfo,
  runningProxy,
  runProxy,
  startProxyInBackground,
  stopProxy,
} from '../proxy/manager.js';
import { DEFAULT_PROXY_PORT } from '../proxy/server.js';
import { paths, tildify } from '../config/paths.js';
import { parseListenPort } from '../util/parse.js';
import { ConnectError, ErrorCodes } from '../api/errors.js';
import { action } from './run.js';
import { agentEvents, colour, line, ok, printJson, warn } from './output.js';

interface StartFlags {
  port: string;
  foreground?: boolean;
  json?: boolean;
}

export function registerProxy(program: Command): void {
  const proxy = program
    .command('proxy')
    .description('Reach services by name over HTTP: http://<service>.localhost:9999/');

  proxy
    .command('start')
    .description('Start the subdomain proxy (in the background unless --foreground)')
    .option('--port <port>', 'port to listen on', String(DEFAULT_PROXY_PORT))
    .option('--foreground', 'run in this terminal instead of the background')
    .option('--json', 'print as JSON')
    .action(
      action(async (flags: StartFlags) => {
        const port = parseListenPort(flags.port, 'proxy port');
        if (flags.foreground) {
          // The proxy announces its own hub connection once (proxy-hub-connected), not each one.
          const events = agentEvents((e) => e.type === 'hub-connected');
          const running = await runProxy(port, events);
          const url = `http://<service>.localhost:${running.server.port}/`;
          if (flags.json) printJson({ pid: process.pid, port: running.server.port, id: running.server.id });
          else events({ type: 'proxy-listening', url, pid: process.pid });
          let stopping = false;
          const stop = (): void => {
            if (stopping) return;
            stopping = true;
            events({ type: 'proxy-stopping' });
            void running.stop().finally(() => process.exit(0));
            setTimeout(() => process.exit(0), 3000).unref();
          };
          process.on('SIGINT', stop);
          process.on('SIGTERM', stop);
          return;
        }
        if (port === 0)
          throw new ConnectError(
            ErrorCodes.BAD_INPUT,
            'pick a port for the background proxy (--port 0 only with --foreground)',
          );
        const { state, alreadyRunning } = await startProxyInBackground(port);
        if (flags.json) return printJson({ ...state, alreadyRunning, log: paths.proxyLog() });
        if (alreadyRunning) {
          ok(`The proxy is already running on port ${state.port} (pid ${state.pid})`);
        } else {
          ok(`Proxy started on port ${state.port} (pid ${state.pid})`);
        }
        line(`  Reach services at http://<service>.localhost:${state.port}/`);
        line(colour.dim(`  Log: ${tildify(paths.proxyLog())}   Stop: connect proxy stop`));
      }),
    );

  proxy
    .command('stop')
    .description('Stop the background proxy (SIGTERM, then SIGKILL after 5 s)')
    .option('--json', 'print as JSON')
    .action(
      action(async (flags: { json?: boolean }) => {
        const result = await stopProxy();
        if (flags.json)
          return printJson(
            result ? { stopped: true, pid: result.state.pid, forced: result.forced } : { stopped: false },
          );
        if (!result) return warn('The proxy is not running');
        ok(`Proxy stopped (pid ${result.state.pid}${result.forced ? ', killed after 5 s' : ''})`);
      }),
    );

  proxy
    .command('status')
    .description('Say whether the proxy answers and list its routes')
    .option('--json', 'print as JSON')
    .action(
      action(async (flags: { json?: boolean }) => {
        const state = runningProxy();
        const info = state?.port ? await fetchProxyInfo(state.port) : undefined;
        if (flags.json) {
          printJson({
            running: Boolean(state),
            responding: Boolean(info),
            pid: state?.pid ?? null,
            port: state?.port ?? null,
            routes: info?.routes ?? [],
          });
        }
        if (!state) {
          throw new ConnectError(
            ErrorCodes.NOT_FOUND,
            'the proxy is not running',
            'Start it: connect proxy start',
          );
        }
        if (!info) {
          throw new ConnectError(
            ErrorCodes.TIMEOUT,
            `the proxy (pid ${state.pid}) is running but does not answer on port ${state.port}`,
            `See ${tildify(paths.proxyLog())}, or restart it: connect proxy stop && connect proxy start`,
          );
        }
        if (flags.json) return;
        ok(`Proxy is responding on port ${info.port} (pid ${info.pid})`);
        line(
          `  Hub: ${info.hub.connected ? 'connected' : info.hub.error ? `not answering (${info.hub.error})` : 'not connected'}`,
        );
        line();
        if (info.routes.length === 0) {
          line('  No routes yet: run `connect reach <name>`, or expose a service on another machine.');
          return;
        }
        line(`  Routes (${info.routes.length}):`);
        const width = Math.max(...info.routes.map((r) => r.name.length));
        for (const r of info.routes) {
          const where =
            r.source === 'local'
              ? `→ ${r.target} (local)`
              : `→ hub${r.status === 'offline' ? ' (offline)' : ''}`;
          line(`    http://${r.name}.localhost:${info.port}/`.padEnd(width + 30) + where);
        }
      }),
    );
}
