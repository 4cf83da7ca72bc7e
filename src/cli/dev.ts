import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { requireCredentials } from '../config/credentials.js';
import { displayPath, findConfig, loadConfig } from '../config/pconnect.js';
import {
  ALLOW_NETWORK_BIND_FLAG,
  checkBinds,
  checkHub,
  startDev,
  writeDevConfig,
} from '../dev/dev-session.js';
import { ConnectError, ErrorCodes } from '../api/errors.js';
import { action } from './run.js';
import { agentEvents, colour, line, ok, printJson } from './output.js';

interface DevFlags {
  file?: string;
  init?: boolean;
  force?: boolean;
  json?: boolean;
  allowNetworkBind?: boolean;
}

export function registerDev(program: Command): void {
  program
    .command('dev')
    .description('Reach every service listed in pconnect.yml at once (Ctrl+C disconnects all)')
    .option(
      '-f, --file <path>',
      'the config file (default: pconnect.yml in this folder or the nearest parent)',
    )
    .option('--init', 'write a pconnect.yml listing the hub’s services')
    .option('--force', 'with --init: overwrite an existing file')
    .option('--json', 'print as JSON')
    .option(
      ALLOW_NETWORK_BIND_FLAG,
      'let the file’s `host:` listen beyond loopback (0.0.0.0, a LAN address): other machines can then reach the services',
    )
    .action(
      action(async (flags: DevFlags) => {
        if (flags.init) return init(flags);
        const path = flags.file ? resolve(flags.file) : findConfig();
        if (!path) {
          throw new ConnectError(
            ErrorCodes.BAD_CONFIG,
            'no pconnect.yml in this folder or its parents',
            'Create one with `connect dev --init`, or name it with -f <file>.',
          );
        }
        // Name the file as the user did (-f) or relative to here when it was found by walking up.
        const shown = flags.file ?? displayPath(path);
        const config = loadConfig(path, shown);
        if (config.services.length === 0) {
          throw new ConnectError(
            ErrorCodes.BAD_CONFIG,
            `${shown} lists no services to reach`,
            'Add a `services:` list (its `expose:` list is for `connect up --config`).',
          );
        }
        checkBinds(config, shown, flags.allowNetworkBind === true);
        const credentials = requireCredentials();
        checkHub(config, credentials, shown);

        if (!flags.json) {
          line('🚀 Private Connect Dev Mode');
          line();
          line(`  Config: ${shown}`);
          line(`  Hub:    ${credentials.hubUrl}`);
          line();
          line('  Connecting to services...');
          line();
        }
        // Dev prints its own summary; the session's connections are not logged line by line.
        const session = await startDev(
          config,
          credentials,
          agentEvents((e) => e.type === 'hub-connected'),
        );
        if (flags.json) {
          printJson({
            config: shown,
            hub: session.hubUrl,
            connected: session.connected,
            failed: session.failed,
          });
        } else {
          if (session.connected.length > 0) {
            line(`  ${colour.green('[ok]')} ${session.connected.length} service(s) connected:`);
            line();
            for (const s of session.connected) {
              const host = s.host === '127.0.0.1' ? 'localhost' : s.host;
              const notes = [
                ...(s.autoSelected ? [`auto-selected: ${s.wanted} is in use`] : []),
                ...(s.status === 'offline' ? ['offline right now'] : []),
              ];
              line(`    ${s.name} ${host}:${s.port}${notes.length ? ` (${notes.join('; ')})` : ''}`);
            }
            line();
          }
          if (session.failed.length > 0) {
            line(`  ${colour.red('[x]')} ${session.failed.length} service(s) failed:`);
            line();
            for (const f of session.failed) line(`    ${f.name}: ${f.reason}`);
            line();
          }
        }
        if (session.connected.length === 0) {
          await session.close();
          throw new ConnectError(ErrorCodes.NOT_FOUND, 'no service could be connected');
        }
        if (!flags.json) line('  Press Ctrl+C to disconnect all services');

        let stopping = false;
        const stop = (): void => {
          if (stopping) return;
          stopping = true;
          if (!flags.json) line(`\n  Disconnecting ${session.connected.length} service(s)...`);
          void session.close().finally(() => {
            if (!flags.json) ok('Disconnected');
            process.exit(0);
          });
          setTimeout(() => process.exit(0), 3000).unref();
        };
        process.on('SIGINT', stop);
        process.on('SIGTERM', stop);
        const fatal = await new Promise<Error>((res) => session.conn.once('fatal', res));
        await session.close();
        throw fatal;
      }),
    );
}

async function init(flags: DevFlags): Promise<void> {
  const path = resolve(flags.file ?? 'pconnect.yml');
  const shown = displayPath(path);
  if (existsSync(path) && !flags.force) {
    throw new ConnectError(
      ErrorCodes.CONFLICT,
      `${shown} already exists`,
      'Overwrite it with --force, or edit it by hand.',
    );
  }
  const config = await writeDevConfig(requireCredentials(), path);
  if (flags.json) return printJson({ file: path, ...config });
  ok(`Wrote ${shown} with ${config.services.length} service(s):`);
  for (const s of config.services) line(`    ${s.name} localhost:${s.port}`);
  line();
  line('  Start them all: connect dev');
}
