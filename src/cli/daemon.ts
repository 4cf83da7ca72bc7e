import type { Command } from 'commander';
import {
  daemonLogs,
  daemonStatus,
  installDaemon,
  restartDaemon,
  startDaemon,
  stopDaemon,
  uninstallDaemon,
  type DaemonEvent,
  type DaemonStatus,
  type StartOutcome,
} from '../app/daemon-control.js';
import { paths, tildify } from '../config/paths.js';
import { ConnectError, ErrorCodes } from '../api/errors.js';
import { action } from './run.js';
import { colour, line, ok, printJson, warn } from './output.js';

const ACTIONS = ['install', 'uninstall', 'start', 'stop', 'restart', 'status', 'logs'] as const;
type DaemonAction = (typeof ACTIONS)[number];

interface DaemonFlags {
  hub?: string;
  replace?: boolean;
  config?: string;
  json?: boolean;
  lines: string;
}

const SEPARATOR = '─'.repeat(56);

export function registerDaemon(program: Command): void {
  program
    .command('daemon')
    .description('Keep the agent running: as a system service (install) or in the background (start)')
    .argument('[action]', `${ACTIONS.join('|')}`, 'status')
    .option('--hub <url>', 'hub URL (default: the hub this machine signed in to)')
    .option('--replace', 'stop an existing daemon before starting a new one')
    .option('--config <path>', 'path to a custom config file, passed to the agent')
    .option('--json', 'status as JSON')
    .option('-n, --lines <count>', 'logs: how many lines to show', '50')
    .action(
      action(async (name: string, flags: DaemonFlags) => {
        if (!(ACTIONS as readonly string[]).includes(name)) {
          throw new ConnectError(
            ErrorCodes.BAD_INPUT,
            `unknown daemon action '${name}': use ${ACTIONS.join(', ')}`,
          );
        }
        await run(name as DaemonAction, flags);
      }),
    );
}

async function run(name: DaemonAction, flags: DaemonFlags): Promise<void> {
  switch (name) {
    case 'status':
      return status(flags);
    case 'logs':
      return logs(flags);
    case 'install':
      return install(flags);
    case 'uninstall':
      return uninstall();
    case 'start':
      return renderStart(await startDaemon(flags, renderEvent));
    case 'stop':
      return stop();
    case 'restart':
      return renderStart(await restartDaemon(flags, renderEvent));
  }
}

const logShown = (): string => tildify(paths.daemonLog());

/** The steps of a use case, shown as they happen. */
function renderEvent(event: DaemonEvent): void {
  switch (event.type) {
    case 'installing':
      line('🔧 Installing Private Connect daemon...');
      line();
      return;
    case 'uninstalling':
      line('🔧 Uninstalling Private Connect daemon...');
      line();
      return;
    case 'background-stopped':
      line(`  Stopped the background daemon (PID: ${event.pid})`);
      return;
    case 'starting':
      line(
        event.via === 'background'
          ? '🚀 Starting daemon in background...'
          : `🚀 Starting daemon (${event.via} service)...`,
      );
      line();
      return;
    case 'replaced':
      ok('Daemon stopped');
      return;
    case 'stopped':
      ok(event.forced ? 'Daemon stopped (killed after 5 s)' : 'Daemon stopped');
      return;
  }
}

/** The seed's status block, without colour. */
function renderStatus(s: DaemonStatus): string[] {
  const lines = ['📊 Private Connect Daemon Status', ''];
  lines.push(s.status === 'running' ? '  ● Status: running' : '  ○ Status: stopped');
  if (s.staleCleaned) lines.push('    (cleaned up stale PID file)');
  if (s.pid !== null) lines.push(`    PID: ${s.pid}`);
  lines.push(`    Service installed: ${s.serviceInstalled ? 'yes' : 'no'}`);
  lines.push(`    Platform: ${s.platform}`);
  if (s.agentId === null) {
    lines.push('    Agent ID: (not signed in; run `connect up` first)');
  } else {
    lines.push(`    Agent ID: ${s.agentId}`);
    lines.push(`    Label: ${s.label ?? ''}`);
  }
  if (s.hub !== null) lines.push(`    Hub: ${s.hub}`);
  return lines;
}

function status(flags: DaemonFlags): void {
  const s = daemonStatus();
  if (flags.json) return printJson(s);
  for (const text of renderStatus(s)) {
    if (text.includes('● Status: running')) line(text.replace('●', colour.green('●')));
    else if (text.includes('(cleaned up')) line(colour.dim(text));
    else line(text);
  }
}

function logs(flags: DaemonFlags): void {
  const count = Number(flags.lines);
  if (!Number.isInteger(count) || count <= 0) {
    throw new ConnectError(
      ErrorCodes.BAD_INPUT,
      `invalid --lines '${flags.lines}': expected a positive number`,
    );
  }
  const { file, lines } = daemonLogs(count);
  const shown = tildify(file);
  if (lines === undefined) {
    warn(`No daemon logs yet (${shown})`);
    line('  Start the daemon: connect daemon start');
    return;
  }
  line(`📋 Daemon Logs (${shown})`);
  line();
  line(colour.dim(SEPARATOR));
  for (const text of lines) line(text);
  line(colour.dim(SEPARATOR));
  line();
  line(`  Showing last ${count} lines. Full log: ${shown}`);
}

async function install(flags: DaemonFlags): Promise<void> {
  const { service, lingerWarning } = await installDaemon(flags, renderEvent);
  line(`  Created: ${tildify(service.unitPath)}`);
  line();
  ok('Daemon installed and started');
  line(`  The agent will now start automatically on ${service.kind === 'systemd' ? 'boot' : 'login'}.`);
  if (lingerWarning) {
    line();
    warn(`Could not enable lingering (${lingerWarning}): the agent starts at login, not at boot.`);
    line('  Run: loginctl enable-linger $USER');
  }
  line();
  line('  Commands:');
  line('    Status:    connect daemon status');
  line('    Logs:      connect daemon logs');
  line('    Stop:      connect daemon stop');
  line('    Uninstall: connect daemon uninstall');
}

function uninstall(): void {
  const { removed, unitPath } = uninstallDaemon(renderEvent);
  if (!removed) {
    warn('The daemon is not installed as a service');
    line(`  (no ${tildify(unitPath)})`);
    return;
  }
  line(`  Removed: ${tildify(unitPath)}`);
  line();
  ok('Daemon uninstalled');
}

function renderStart(result: StartOutcome): void {
  if (result.outcome === 'already-running') {
    warn(`Daemon is already running (PID: ${result.pid})`);
    line(
      result.via === 'service'
        ? '  Restart it: connect daemon restart'
        : '  Restart it: connect daemon restart  (or connect daemon start --replace)',
    );
    return;
  }
  ok(`Daemon started (PID: ${result.pid})`);
  line(`  Logs: ${logShown()}`);
}

async function stop(): Promise<void> {
  const result = await stopDaemon(renderEvent);
  if (result.stopped) return;
  warn('Daemon is not running');
  if (result.staleCleaned) line(colour.dim('  (cleaned up stale PID file)'));
}
