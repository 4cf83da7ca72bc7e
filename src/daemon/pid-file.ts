import { unlinkSync } from 'node:fs';
import { paths } from '../config/paths.js';
import { readFileIfExists, writeJsonAtomic } from '../config/atomic-file.js';
import { processInfo, type ProcessInfo } from './process-info.js';

/**
 * ~/.privateconnect/daemon.pid of a background daemon. It records more than the pid so that a pid the
 * system has since given to an unrelated process is never trusted (and never signalled): the process start
 * time and the script it runs are checked against the live process.
 */
export interface DaemonRecord {
  pid: number;
  /** Start-time token of the process (see processInfo), when the platform gives one. */
  startTime?: string | undefined;
  /** Absolute path of the CLI entry point the daemon runs (dist/cli/main.js). */
  script?: string | undefined;
  hubUrl?: string | undefined;
  config?: string | undefined;
  startedAt?: string | undefined;
}

export type PidFileState =
  | { state: 'none' }
  | { state: 'running'; record: DaemonRecord }
  /** The file exists but names no live daemon of ours (dead, reused pid, or unreadable). */
  | { state: 'stale'; record?: DaemonRecord | undefined };

export function writePidFile(record: DaemonRecord, file = paths.daemonPid()): void {
  writeJsonAtomic(file, record, 0o600);
}

export function removePidFile(file = paths.daemonPid()): void {
  try {
    unlinkSync(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}

/** Parses the pid file: our JSON record, or a bare pid as other tools write it. */
export function parsePidFile(text: string): DaemonRecord | undefined {
  const trimmed = text.trim();
  if (/^\d+$/.test(trimmed)) return { pid: Number(trimmed) };
  try {
    const value = JSON.parse(trimmed) as Partial<DaemonRecord> | null;
    if (!value || typeof value !== 'object' || !Number.isInteger(value.pid) || (value.pid ?? 0) <= 0)
      return undefined;
    const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
    return {
      pid: value.pid!,
      startTime: str(value.startTime),
      script: str(value.script),
      hubUrl: str(value.hubUrl),
      config: str(value.config),
      startedAt: str(value.startedAt),
    };
  } catch {
    return undefined;
  }
}

/**
 * True when the live process is the daemon the record describes: same start time (when both are known) and a
 * command line that runs our CLI's `up`. Without a command line (a platform that hides it) liveness plus the
 * start time is all there is.
 */
export function matchesRecord(record: DaemonRecord, info: ProcessInfo): boolean {
  if (!info.alive) return false;
  if (record.startTime !== undefined && info.startTime !== undefined && record.startTime !== info.startTime)
    return false;
  if (info.commandLine === undefined) return record.startTime !== undefined || process.platform === 'win32';
  const cmd = info.commandLine;
  const runsScript = record.script !== undefined ? cmd.includes(record.script) : /main\.js|connect/.test(cmd);
  return runsScript && /(^|\s)up(\s|$)/.test(cmd);
}

export function readPidFile(file = paths.daemonPid()): PidFileState {
  const text = readFileIfExists(file);
  if (text === undefined) return { state: 'none' };
  const record = parsePidFile(text);
  if (!record) return { state: 'stale' };
  return matchesRecord(record, processInfo(record.pid))
    ? { state: 'running', record }
    : { state: 'stale', record };
}
