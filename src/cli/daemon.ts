import { setTimeout as sleep } from 'node:timers/promises';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { requireCredentials, resolveHubUrl, type Credentials } from '../config/credentials.js';
import { paths, tildify } from '../config/paths.js';
import { runningAgent } from '../agent/agent-lock.js';
import { agentCommand } from '../daemon/command.js';
import { startBackground, stopBackground, START_WAIT_MS } from '../daemon/background.js';
import { readPidFile, removePidFile, type DaemonRecord } from '../daemon/pid-file.js';
import { tailLines } from '../daemon/log-file.js';
import { renderSystemdUnit } from '../daemon/systemd.js';
import { renderLaunchdPlist } from '../daemon/launchd.js';
import { assertSupportedPlatform, serviceManager, type ServiceManager } from '../daemon/service.js';
import { daemonStatus, renderStatus } from '../daemon/status.js';
import { ConnectError, ErrorCodes, messageOf } from '../api/errors.js';
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
      return start(flags, false);
    case 'stop':
      await stop(true);
      return;
    case 'restart':
      return restart(flags);
  }
}

/** The service manager, when a service is installed and its manager can be driven here. */
function activeService(): ServiceManager | undefined {
  const service = serviceManager();
  return service?.isInstalled() && service.unavailableReason() === undefined ? service : undefined;
}

function hubFor(flags: DaemonFlags, credentials: Credentials): string {
  // An explicit --hub wins; otherwise the hub this machine signed in to (never silently a default).
  return resolveHubUrl(flags.hub, credentials);
}

function status(flags: DaemonFlags): void {
  const s = daemonStatus(serviceManager());
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
  const file = paths.daemonLog();
  const shown = tildify(file);
  if (!existsSync(file)) {
    warn(`No daemon logs yet (${shown})`);
    line('  Start the daemon: connect daemon start');
    return;
  }
  line(`📋 Daemon Logs (${shown})`);
  line();
  line(colour.dim(SEPARATOR));
  for (const text of tailLines(file, count)) line(text);
  line(colour.dim(SEPARATOR));
  line();
  line(`  Showing last ${count} lines. Full log: ${shown}`);
}

async function install(flags: DaemonFlags): Promise<void> {
  assertSupportedPlatform();
  const credentials = requireCredentials();
  const hubUrl = hubFor(flags, credentials);
  const service = serviceManager()!;
  const reason = service.unavailableReason();
  if (reason !== undefined) {
    const what = service.kind === 'systemd' ? 'a systemd user service' : 'a launchd agent';
    throw new ConnectError(
      ErrorCodes.UNSUPPORTED,
      `cannot install the daemon as ${what}: ${reason}`,
      'Run it in the background instead: connect daemon start',
    );
  }
  line('🔧 Installing Private Connect daemon...');
  line();
  const pf = readPidFile();
  if (pf.state === 'running') {
    // The service runs the same agent; two would fight over one identity.
    await stopBackground(pf.record);
    line(`  Stopped the background daemon (PID: ${pf.record.pid})`);
  } else if (pf.state === 'stale') {
    removePidFile();
  }
  const command = agentCommand({ hubUrl, config: flags.config });
  const logPath = paths.daemonLog();
  const rendered =
    service.kind === 'systemd'
      ? renderSystemdUnit({ command, logPath })
      : renderLaunchdPlist({ command, logPath });
  let result: { lingerWarning?: string };
  try {
    result = service.install(rendered);
  } catch (err) {
    throw new ConnectError(
      ErrorCodes.INTERNAL,
      `Daemon failed to install: ${messageOf(err)}`,
      `Service file: ${tildify(service.unitPath)}`,
    );
  }
  line(`  Created: ${tildify(service.unitPath)}`);
  line();
  ok('Daemon installed and started');
  line(`  The agent will now start automatically on ${service.kind === 'systemd' ? 'boot' : 'login'}.`);
  if (result.lingerWarning) {
    line();
    warn(`Could not enable lingering (${result.lingerWarning}): the agent starts at login, not at boot.`);
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
  assertSupportedPlatform();
  const service = serviceManager()!;
  if (!service.isInstalled()) {
    warn('The daemon is not installed as a service');
    line(`  (no ${tildify(service.unitPath)})`);
    return;
  }
  line('🔧 Uninstalling Private Connect daemon...');
  line();
  try {
    service.uninstall();
  } catch (err) {
    throw new ConnectError(ErrorCodes.INTERNAL, `Daemon failed to uninstall: ${messageOf(err)}`);
  }
  line(`  Removed: ${tildify(service.unitPath)}`);
  line();
  ok('Daemon uninstalled');
}

/** Waits for the service manager to report a main pid (the service was just started). */
async function servicePid(service: ServiceManager): Promise<number | undefined> {
  const deadline = Date.now() + START_WAIT_MS;
  for (;;) {
    const pid = service.pid();
    if (pid !== undefined || Date.now() >= deadline) return pid;
    await sleep(200);
  }
}

async function start(flags: DaemonFlags, restarting: boolean, previous?: DaemonRecord): Promise<void> {
  assertSupportedPlatform();
  const credentials = requireCredentials();
  const hubUrl = hubFor(flags, credentials);
  const logShown = tildify(paths.daemonLog());

  const service = activeService();
  if (service) {
    const pid = service.pid();
    if (pid !== undefined && !flags.replace && !restarting) {
      warn(`Daemon is already running (PID: ${pid})`);
      line('  Restart it: connect daemon restart');
      return;
    }
    if (!restarting) {
      line(`🚀 Starting daemon (${service.kind} service)...`);
      line();
    }
    try {
      if (pid !== undefined) {
        service.stop();
        ok('Daemon stopped');
      }
      service.start();
    } catch (err) {
      throw new ConnectError(
        ErrorCodes.INTERNAL,
        `Daemon failed to start: ${messageOf(err)}`,
        `Check logs: ${logShown}`,
      );
    }
    const started = await servicePid(service);
    if (started === undefined) {
      throw new ConnectError(
        ErrorCodes.INTERNAL,
        'Daemon failed to start: the service is not running',
        `Check logs: ${logShown}`,
      );
    }
    ok(`Daemon started (PID: ${started})`);
    line(`  Logs: ${logShown}`);
    return;
  }

  const pf = readPidFile();
  if (pf.state === 'stale') removePidFile();
  if (pf.state === 'running') {
    if (!flags.replace) {
      warn(`Daemon is already running (PID: ${pf.record.pid})`);
      line('  Restart it: connect daemon restart  (or connect daemon start --replace)');
      return;
    }
    await stopBackground(pf.record);
    ok('Daemon stopped');
  }
  const other = runningAgent();
  if (other) {
    throw new ConnectError(
      ErrorCodes.CONFLICT,
      `an agent for this identity is already running in the foreground (pid ${other.pid})`,
      'Stop it first (Ctrl+C where `connect up` runs); the daemon runs the same agent.',
    );
  }

  if (!restarting) {
    line('🚀 Starting daemon in background...');
    line();
  }
  // A restart keeps the --config the daemon was started with, unless a new one is given.
  const config = flags.config !== undefined ? resolve(flags.config) : previous?.config;
  const command = agentCommand({ hubUrl, config });
  const result = await startBackground({ command, hubUrl, config });
  if (!result.ok) {
    throw new ConnectError(
      ErrorCodes.INTERNAL,
      `Daemon failed to start: ${result.reason}`,
      `Check logs: ${logShown}`,
    );
  }
  ok(`Daemon started (PID: ${result.record.pid})`);
  line(`  Logs: ${logShown}`);
}

/** Stops the daemon; returns the record of a stopped background daemon. */
async function stop(report: boolean): Promise<{ stopped: boolean; record?: DaemonRecord }> {
  assertSupportedPlatform();
  const pf = readPidFile();
  if (pf.state === 'running') {
    const { forced } = await stopBackground(pf.record);
    ok(forced ? 'Daemon stopped (killed after 5 s)' : 'Daemon stopped');
    return { stopped: true, record: pf.record };
  }
  const stale = pf.state === 'stale';
  if (stale) removePidFile();
  const service = activeService();
  if (service?.pid() !== undefined) {
    try {
      service.stop();
    } catch (err) {
      throw new ConnectError(ErrorCodes.INTERNAL, `Daemon failed to stop: ${messageOf(err)}`);
    }
    ok('Daemon stopped');
    return { stopped: true };
  }
  if (report) {
    warn('Daemon is not running');
    if (stale) line(colour.dim('  (cleaned up stale PID file)'));
  }
  return { stopped: false, ...(stale && pf.record ? { record: pf.record } : {}) };
}

async function restart(flags: DaemonFlags): Promise<void> {
  assertSupportedPlatform();
  requireCredentials();
  const service = activeService();
  if (service) {
    await start({ ...flags, replace: true }, true);
    return;
  }
  const { record } = await stop(false);
  await start(flags, true, record);
}
