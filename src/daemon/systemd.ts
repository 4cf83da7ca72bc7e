import { existsSync, mkdirSync, unlinkSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { home } from '../config/paths.js';
import { writeFileAtomic } from '../config/atomic-file.js';
import { SYSTEMD_UNIT_NAME, servicePath, type AgentCommand } from './command.js';
import { describeFailure, runProgram, type Runner } from './exec.js';

/** ~/.config/systemd/user/private-connect.service (or under $XDG_CONFIG_HOME, where systemd looks then). */
export function systemdUnitPath(): string {
  const xdg = process.env.XDG_CONFIG_HOME;
  const base = xdg && isAbsolute(xdg) ? xdg : join(home(), '.config');
  return join(base, 'systemd', 'user', SYSTEMD_UNIT_NAME);
}

/** Escapes systemd specifiers (%) and, for command lines, variable expansion ($). */
const escapeSpecifiers = (s: string): string => s.replace(/%/g, '%%');

/**
 * One word of a systemd command line or of `Environment=`, quoted per systemd.syntax(7): bare when it holds
 * only safe characters, else in double quotes with C-style escapes. `%` and `$` are doubled so that a path
 * containing them is not taken for a specifier or a variable.
 */
export function quoteSystemdWord(word: string): string {
  const escaped = escapeSpecifiers(word).replace(/\$/g, '$$$$');
  if (/^[A-Za-z0-9_@%$+=:,./-]+$/.test(escaped)) return escaped;
  const inner = escaped
    .replace(/\\/g, '\\\\')
    .replace(/"/g, '\\"')
    .replace(/\n/g, '\\n')
    .replace(/\t/g, '\\t');
  return `"${inner}"`;
}

export interface UnitOptions {
  command: AgentCommand;
  /** Absolute path of the daemon log. */
  logPath: string;
}

/** The user unit of the seed, running this installation's CLI with absolute, quoted paths. Pure. */
export function renderSystemdUnit(opts: UnitOptions): string {
  const exec = [opts.command.node, ...opts.command.args].map(quoteSystemdWord).join(' ');
  // `append:` takes the rest of the value as the path, verbatim except for specifiers.
  const log = escapeSpecifiers(opts.logPath);
  const env = ['CONNECT_DAEMON=1', `PATH=${servicePath(opts.command.node)}`].map(quoteSystemdWord).join(' ');
  return [
    '[Unit]',
    'Description=Private Connect Agent',
    'After=network-online.target',
    'Wants=network-online.target',
    '',
    '[Service]',
    'Type=simple',
    `ExecStart=${exec}`,
    'Restart=always',
    'RestartSec=10',
    `StandardOutput=append:${log}`,
    `StandardError=append:${log}`,
    `Environment=${env}`,
    '',
    '[Install]',
    'WantedBy=default.target',
    '',
  ].join('\n');
}

const MANAGER_UP = new Set(['running', 'degraded', 'starting', 'initializing', 'maintenance']);

export class SystemdService {
  readonly kind = 'systemd';
  constructor(
    private readonly run: Runner = runProgram,
    readonly unitPath: string = systemdUnitPath(),
  ) {}

  isInstalled(): boolean {
    return existsSync(this.unitPath);
  }

  /** Why no systemd user manager can be used here, or undefined when one is running. */
  unavailableReason(): string | undefined {
    const r = this.run('systemctl', ['--user', 'is-system-running']);
    if (r.error) return 'systemctl is not installed';
    const state = r.stdout.trim();
    if (MANAGER_UP.has(state)) return undefined;
    if (state === 'offline' || state === '')
      return 'no systemd user manager is running for this user (a container, CI, or no login session)';
    return `the systemd user manager is ${state}`;
  }

  private systemctl(...args: string[]): void {
    const r = this.run('systemctl', ['--user', ...args]);
    if (r.code !== 0) throw new Error(`systemctl --user ${args.join(' ')} failed: ${describeFailure(r)}`);
  }

  /** Writes the unit, reloads, enables and starts it. Returns a warning when lingering could not be enabled. */
  install(unit: string): { lingerWarning?: string } {
    mkdirSync(join(this.unitPath, '..'), { recursive: true, mode: 0o755 });
    writeFileAtomic(this.unitPath, unit, 0o644);
    this.systemctl('daemon-reload');
    this.systemctl('enable', SYSTEMD_UNIT_NAME);
    this.systemctl('restart', SYSTEMD_UNIT_NAME);
    const linger = this.run('loginctl', ['enable-linger']);
    if (linger.code !== 0) return { lingerWarning: describeFailure(linger) };
    return {};
  }

  uninstall(): void {
    const managerRunning = this.unavailableReason() === undefined; // one systemctl query, not two
    if (managerRunning) this.run('systemctl', ['--user', 'disable', '--now', SYSTEMD_UNIT_NAME]);
    unlinkSync(this.unitPath);
    if (managerRunning) this.run('systemctl', ['--user', 'daemon-reload']);
  }

  start(): void {
    this.systemctl('start', SYSTEMD_UNIT_NAME);
  }

  stop(): void {
    this.systemctl('stop', SYSTEMD_UNIT_NAME);
  }

  /** The main pid of the running service, or undefined when it is not running. */
  pid(): number | undefined {
    const r = this.run('systemctl', ['--user', 'show', '--property=MainPID', '--value', SYSTEMD_UNIT_NAME]);
    const pid = Number(r.stdout.trim());
    return r.code === 0 && Number.isInteger(pid) && pid > 0 ? pid : undefined;
  }
}
