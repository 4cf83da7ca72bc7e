/**
 * `connect daemon` as use cases: install, uninstall, start, stop, restart, status, logs. This is where the
 * choice between the platform's service manager (an installed systemd/launchd unit) and a background process
 * (~/.privateconnect/daemon.pid) is made; the CLI parses flags and renders the events and results.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { runningAgent } from '../agent/agent-lock.js';
import { ConnectError, ErrorCodes, messageOf } from '../api/errors.js';
import { loadCredentials, requireCredentials, resolveHubUrl } from '../config/credentials.js';
import { paths, tildify } from '../config/paths.js';
import { startBackground, stopBackground, START_WAIT_MS } from '../daemon/background.js';
import { agentCommand } from '../daemon/command.js';
import { renderLaunchdPlist } from '../daemon/launchd.js';
import { tailLines } from '../daemon/log-file.js';
import { daemonPidFile, type DaemonRecord } from '../daemon/pid-file.js';
import {
  assertSupportedPlatform,
  systemServiceManager,
  type SystemServiceManager,
} from '../daemon/service.js';
import { renderSystemdUnit } from '../daemon/systemd.js';

/** What a use case did on the way, in order, for the CLI to show as it happens. */
export type DaemonEvent =
  /** `install` passed its checks and begins. */
  | { type: 'installing' }
  /** `install` stopped a background daemon: the service runs the same agent, two would fight over one identity. */
  | { type: 'background-stopped'; pid: number }
  /** `uninstall` found the service installed and begins. */
  | { type: 'uninstalling' }
  /** `start` begins (not said on a restart). */
  | { type: 'starting'; via: 'background' | SystemServiceManager['kind'] }
  /** `start --replace` (or a restart) stopped the running daemon before starting the new one. */
  | { type: 'replaced' }
  /** `stop` (or a restart) stopped the daemon; `forced` when it took SIGKILL after the grace. */
  | { type: 'stopped'; forced: boolean };

export type OnDaemonEvent = (event: DaemonEvent) => void;

export interface DaemonOptions {
  /** The hub to run the agent against (default: the hub this machine signed in to). */
  hub?: string | undefined;
  /** A config file passed to the agent. */
  config?: string | undefined;
  /** Stop a running daemon before starting a new one. */
  replace?: boolean | undefined;
}

export interface DaemonStatus {
  status: 'running' | 'stopped';
  pid: number | null;
  /** How the running daemon was started: the installed service, or `connect daemon start` in the background. */
  mode: 'service' | 'background' | null;
  serviceInstalled: boolean;
  /** The service file, when the platform has one. */
  serviceFile: string | null;
  platform: NodeJS.Platform;
  agentId: string | null;
  label: string | null;
  hub: string | null;
  /** True when a pid file naming no live daemon of ours was found and removed. */
  staleCleaned: boolean;
  logFile: string;
  pidFile: string;
}

export type StartOutcome =
  | { outcome: 'started'; pid: number }
  | { outcome: 'already-running'; pid: number; via: 'service' | 'background' };

export type StopOutcome =
  { stopped: true; via: 'service' | 'background' } | { stopped: false; staleCleaned: boolean };

const ignore: OnDaemonEvent = () => undefined;
const logShown = (): string => tildify(paths.daemonLog());

/** The service manager, when a service is installed and its manager can be driven here. */
function activeService(): SystemServiceManager | undefined {
  const service = systemServiceManager();
  return service?.isInstalled() && service.unavailableReason() === undefined ? service : undefined;
}

/** An explicit --hub wins; otherwise the hub this machine signed in to (never silently a default). */
function hubUrlFor(opts: DaemonOptions): string {
  return resolveHubUrl(opts.hub, requireCredentials());
}

/** Reads the daemon's state; removes a stale pid file as a side effect (and says so). */
export function daemonStatus(
  service: SystemServiceManager | undefined = systemServiceManager(),
  platform: NodeJS.Platform = process.platform,
): DaemonStatus {
  const pidFile = daemonPidFile();
  const pf = pidFile.read();
  let staleCleaned = false;
  if (pf.state === 'stale') {
    pidFile.remove();
    staleCleaned = true;
  }
  const installed = service?.isInstalled() ?? false;
  let pid: number | null = null;
  let mode: DaemonStatus['mode'] = null;
  let hub: string | null = null;
  if (pf.state === 'running') {
    pid = pf.record.pid;
    mode = 'background';
    hub = pf.record.hubUrl ?? null;
  } else if (installed && service && service.unavailableReason() === undefined) {
    const servicePid = service.pid();
    if (servicePid !== undefined) {
      pid = servicePid;
      mode = 'service';
    }
  }
  let credentials;
  try {
    credentials = loadCredentials();
  } catch {
    credentials = undefined;
  }
  return {
    status: pid !== null ? 'running' : 'stopped',
    pid,
    mode,
    serviceInstalled: installed,
    serviceFile: service?.unitPath ?? null,
    platform,
    agentId: credentials?.agentId ?? null,
    label: credentials?.label ?? null,
    hub: hub ?? credentials?.hubUrl ?? null,
    staleCleaned,
    logFile: paths.daemonLog(),
    pidFile: paths.daemonPid(),
  };
}

/** The last `count` lines of the daemon log, or no lines when there is no log yet. */
export function daemonLogs(count: number): { file: string; lines?: string[] } {
  const file = paths.daemonLog();
  return existsSync(file) ? { file, lines: tailLines(file, count) } : { file };
}

/** Installs the agent as a service of the platform's manager (and starts it); a background daemon is stopped. */
export async function installDaemon(
  opts: DaemonOptions,
  onEvent: OnDaemonEvent = ignore,
): Promise<{ service: SystemServiceManager; lingerWarning?: string }> {
  assertSupportedPlatform();
  const hubUrl = hubUrlFor(opts);
  const service = systemServiceManager()!;
  const reason = service.unavailableReason();
  if (reason !== undefined) {
    const what = service.kind === 'systemd' ? 'a systemd user service' : 'a launchd agent';
    throw new ConnectError(
      ErrorCodes.UNSUPPORTED,
      `cannot install the daemon as ${what}: ${reason}`,
      'Run it in the background instead: connect daemon start',
    );
  }
  onEvent({ type: 'installing' });
  const pidFile = daemonPidFile();
  const pf = pidFile.read();
  if (pf.state === 'running') {
    await stopBackground(pf.record);
    onEvent({ type: 'background-stopped', pid: pf.record.pid });
  } else if (pf.state === 'stale') {
    pidFile.remove();
  }
  const command = agentCommand({ hubUrl, config: opts.config });
  const logPath = paths.daemonLog();
  const rendered =
    service.kind === 'systemd'
      ? renderSystemdUnit({ command, logPath })
      : renderLaunchdPlist({ command, logPath });
  try {
    return { service, ...service.install(rendered) };
  } catch (err) {
    throw new ConnectError(
      ErrorCodes.INTERNAL,
      `Daemon failed to install: ${messageOf(err)}`,
      `Service file: ${tildify(service.unitPath)}`,
    );
  }
}

/** Removes the installed service; `removed: false` when none was installed. */
export function uninstallDaemon(onEvent: OnDaemonEvent = ignore): { removed: boolean; unitPath: string } {
  assertSupportedPlatform();
  const service = systemServiceManager()!;
  if (!service.isInstalled()) return { removed: false, unitPath: service.unitPath };
  onEvent({ type: 'uninstalling' });
  try {
    service.uninstall();
  } catch (err) {
    throw new ConnectError(ErrorCodes.INTERNAL, `Daemon failed to uninstall: ${messageOf(err)}`);
  }
  return { removed: true, unitPath: service.unitPath };
}

/** Waits for the service manager to report a main pid (the service was just started). */
async function servicePid(service: SystemServiceManager): Promise<number | undefined> {
  const deadline = Date.now() + START_WAIT_MS;
  for (;;) {
    const pid = service.pid();
    if (pid !== undefined || Date.now() >= deadline) return pid;
    await sleep(200);
  }
}

async function startService(
  service: SystemServiceManager,
  opts: DaemonOptions,
  restarting: boolean,
  onEvent: OnDaemonEvent,
): Promise<StartOutcome> {
  const pid = service.pid();
  if (pid !== undefined && !opts.replace && !restarting)
    return { outcome: 'already-running', pid, via: 'service' };
  if (!restarting) onEvent({ type: 'starting', via: service.kind });
  try {
    if (pid !== undefined) {
      service.stop();
      onEvent({ type: 'replaced' });
    }
    service.start();
  } catch (err) {
    throw new ConnectError(
      ErrorCodes.INTERNAL,
      `Daemon failed to start: ${messageOf(err)}`,
      `Check logs: ${logShown()}`,
    );
  }
  const started = await servicePid(service);
  if (started === undefined) {
    throw new ConnectError(
      ErrorCodes.INTERNAL,
      'Daemon failed to start: the service is not running',
      `Check logs: ${logShown()}`,
    );
  }
  return { outcome: 'started', pid: started };
}

async function startInBackground(
  hubUrl: string,
  opts: DaemonOptions,
  restarting: boolean,
  previous: DaemonRecord | undefined,
  onEvent: OnDaemonEvent,
): Promise<StartOutcome> {
  const pidFile = daemonPidFile();
  const pf = pidFile.read();
  if (pf.state === 'stale') pidFile.remove();
  if (pf.state === 'running') {
    if (!opts.replace) return { outcome: 'already-running', pid: pf.record.pid, via: 'background' };
    await stopBackground(pf.record);
    onEvent({ type: 'replaced' });
  }
  const other = runningAgent();
  if (other) {
    throw new ConnectError(
      ErrorCodes.CONFLICT,
      `an agent for this identity is already running in the foreground (pid ${other.pid})`,
      'Stop it first (Ctrl+C where `connect up` runs); the daemon runs the same agent.',
    );
  }
  if (!restarting) onEvent({ type: 'starting', via: 'background' });
  // A restart keeps the --config the daemon was started with, unless a new one is given.
  const config = opts.config !== undefined ? resolve(opts.config) : previous?.config;
  const command = agentCommand({ hubUrl, config });
  const result = await startBackground({ command, hubUrl, config });
  if (!result.ok) {
    throw new ConnectError(
      ErrorCodes.INTERNAL,
      `Daemon failed to start: ${result.reason}`,
      `Check logs: ${logShown()}`,
    );
  }
  return { outcome: 'started', pid: result.record.pid };
}

/** Starts the installed service when there is one that can be driven here, else a background daemon. */
export async function startDaemon(
  opts: DaemonOptions,
  onEvent: OnDaemonEvent = ignore,
  restart?: { previous?: DaemonRecord | undefined },
): Promise<StartOutcome> {
  assertSupportedPlatform();
  const hubUrl = hubUrlFor(opts);
  const restarting = restart !== undefined;
  const service = activeService();
  if (service) return startService(service, opts, restarting, onEvent);
  return startInBackground(hubUrl, opts, restarting, restart?.previous, onEvent);
}

/** Stops the daemon: a background one first (SIGTERM, then SIGKILL after 5 s), else the installed service. */
export async function stopDaemon(onEvent: OnDaemonEvent = ignore): Promise<StopOutcome> {
  return (await stopAndRecall(onEvent)).outcome;
}

/** stopDaemon, also returning the record of a stopped (or stale) background daemon, for a restart. */
async function stopAndRecall(
  onEvent: OnDaemonEvent,
): Promise<{ outcome: StopOutcome; record?: DaemonRecord | undefined }> {
  assertSupportedPlatform();
  const pidFile = daemonPidFile();
  const pf = pidFile.read();
  if (pf.state === 'running') {
    const { forced } = await stopBackground(pf.record);
    onEvent({ type: 'stopped', forced });
    return { outcome: { stopped: true, via: 'background' }, record: pf.record };
  }
  const stale = pf.state === 'stale';
  if (stale) pidFile.remove();
  const service = activeService();
  if (service?.pid() !== undefined) {
    try {
      service.stop();
    } catch (err) {
      throw new ConnectError(ErrorCodes.INTERNAL, `Daemon failed to stop: ${messageOf(err)}`);
    }
    onEvent({ type: 'stopped', forced: false });
    return { outcome: { stopped: true, via: 'service' } };
  }
  return { outcome: { stopped: false, staleCleaned: stale }, record: stale ? pf.record : undefined };
}

/**
 * Restarts the daemon: the installed service in place, or a background daemon stopped and started again with
 * the config it was started with.
 */
export async function restartDaemon(
  opts: DaemonOptions,
  onEvent: OnDaemonEvent = ignore,
): Promise<StartOutcome> {
  assertSupportedPlatform();
  requireCredentials();
  if (activeService()) return startDaemon({ ...opts, replace: true }, onEvent, {});
  const { record } = await stopAndRecall(onEvent);
  return startDaemon(opts, onEvent, { previous: record });
}
