import { existsSync, mkdirSync, unlinkSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { home } from '../config/paths.js';
import { writeFileAtomic } from '../config/atomic-file.js';
import { LAUNCHD_LABEL, servicePath, type AgentCommand } from './command.js';
import { describeFailure, runProgram, type Runner } from './exec.js';

/** ~/Library/LaunchAgents/co.privateconnect.agent.plist */
export function launchdPlistPath(): string {
  return join(home(), 'Library', 'LaunchAgents', `${LAUNCHD_LABEL}.plist`);
}

const xml = (s: string): string =>
  s
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&apos;');

export interface PlistOptions {
  command: AgentCommand;
  /** Absolute path of the daemon log (launchd does not expand ~). */
  logPath: string;
}

/** The launch agent of the seed; every path is its own <string>, so spaces need no quoting. Pure. */
export function renderLaunchdPlist(opts: PlistOptions): string {
  const args = [opts.command.node, ...opts.command.args].map((a) => `        <string>${xml(a)}</string>`);
  const log = xml(opts.logPath);
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    '<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">',
    '<plist version="1.0">',
    '<dict>',
    '    <key>Label</key>',
    `    <string>${LAUNCHD_LABEL}</string>`,
    '',
    '    <key>ProgramArguments</key>',
    '    <array>',
    ...args,
    '    </array>',
    '',
    '    <key>EnvironmentVariables</key>',
    '    <dict>',
    '        <key>CONNECT_DAEMON</key>',
    '        <string>1</string>',
    '        <key>PATH</key>',
    `        <string>${xml(servicePath(opts.command.node))}</string>`,
    '    </dict>',
    '',
    '    <key>RunAtLoad</key>',
    '    <true/>',
    '',
    '    <key>KeepAlive</key>',
    '    <dict>',
    '        <key>SuccessfulExit</key>',
    '        <false/>',
    '        <key>NetworkState</key>',
    '        <true/>',
    '    </dict>',
    '',
    '    <key>StandardOutPath</key>',
    `    <string>${log}</string>`,
    '',
    '    <key>StandardErrorPath</key>',
    `    <string>${log}</string>`,
    '',
    '    <key>ThrottleInterval</key>',
    '    <integer>10</integer>',
    '</dict>',
    '</plist>',
    '',
  ].join('\n');
}

export class LaunchdService {
  readonly kind = 'launchd';
  constructor(
    private readonly run: Runner = runProgram,
    readonly unitPath: string = launchdPlistPath(),
  ) {}

  isInstalled(): boolean {
    return existsSync(this.unitPath);
  }

  unavailableReason(): string | undefined {
    const r = this.run('launchctl', ['version']);
    return r.error ? 'launchctl is not available' : undefined;
  }

  install(plist: string): { lingerWarning?: string } {
    mkdirSync(dirname(this.unitPath), { recursive: true, mode: 0o755 });
    writeFileAtomic(this.unitPath, plist, 0o644);
    this.run('launchctl', ['unload', this.unitPath]); // a previous version, if loaded
    this.start();
    return {};
  }

  uninstall(): void {
    this.run('launchctl', ['unload', '-w', this.unitPath]);
    unlinkSync(this.unitPath);
  }

  start(): void {
    const r = this.run('launchctl', ['load', '-w', this.unitPath]);
    if (r.code !== 0 || /error/i.test(r.stderr))
      throw new Error(`launchctl load failed: ${describeFailure(r)}`);
  }

  /** Unloading is the only stop launchd does not undo (KeepAlive would restart a killed agent). */
  stop(): void {
    const r = this.run('launchctl', ['unload', this.unitPath]);
    if (r.code !== 0) throw new Error(`launchctl unload failed: ${describeFailure(r)}`);
  }

  pid(): number | undefined {
    const r = this.run('launchctl', ['list', LAUNCHD_LABEL]);
    const m = /"PID"\s*=\s*(\d+);/.exec(r.stdout);
    return r.code === 0 && m ? Number(m[1]) : undefined;
  }
}
