import { unlinkSync } from 'node:fs';
import { readFileIfExists, writeFileAtomic, writeJsonAtomic } from './atomic-file.js';
import { processInfo, startTimeOf, type ProcessInfo } from './process-check.js';

/**
 * What every record of a long-lived process of ours holds (the daemon's daemon.pid, the proxy's proxy.json and
 * proxy.pid, the agent lock agent.json): the pid, and what tells that process apart from an unrelated one the
 * system later gives the same pid, so that a stale record is never trusted and its pid never signalled.
 */
export interface ProcessRecord {
  pid: number;
  /** Start-time token of the process (see startTimeOf), when the platform gives one. */
  startTime?: string | undefined;
  /** Absolute path of the CLI entry point the process runs, when the writer knows it (the daemon's child). */
  script?: string | undefined;
}

/** What reading a record found: nothing, our live process, or a file naming no live process of ours. */
export type RecordState<R extends ProcessRecord> =
  | { state: 'none' }
  | { state: 'running'; record: R }
  /** The file exists but names no live process of ours (dead, reused pid, or unreadable). */
  | { state: 'stale'; record?: R | undefined };

/** The record of a live process: its pid and start time (this process by default). */
export function processRecordOf(pid: number = process.pid): ProcessRecord {
  return { pid, startTime: startTimeOf(pid) };
}

/**
 * True when the live process is the one the record describes: same start time (when both are known) and a
 * command line that runs our CLI (the recorded script, else any `main.js`/`connect`) with the arguments the
 * kind expects. Without a command line (a platform that hides it) liveness plus a recorded start time is all
 * there is.
 */
export function isRecordedProcess(record: ProcessRecord, info: ProcessInfo, args?: RegExp): boolean {
  if (!info.alive) return false;
  if (record.startTime !== undefined && info.startTime !== undefined && record.startTime !== info.startTime)
    return false;
  if (info.commandLine === undefined) return record.startTime !== undefined || process.platform === 'win32';
  const cmd = info.commandLine;
  const runsScript = record.script !== undefined ? cmd.includes(record.script) : /main\.js|connect/.test(cmd);
  return runsScript && (args === undefined || args.test(cmd));
}

/** A string field of a parsed record, or undefined: a record may come from an older version or another tool. */
export const stringField = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

export interface RecordFileOptions<R extends ProcessRecord> {
  /** The record, as JSON. */
  path: string;
  /**
   * A file beside it holding the pid alone, so that `kill $(cat …)` works (the proxy's proxy.pid). When set, it
   * is what names the process; the JSON adds its fields when it names the same pid.
   */
  pidPath?: string | undefined;
  /** What the recorded process's command line must show besides our CLI (the daemon runs `up`). */
  args?: RegExp | undefined;
  /** The kind's own fields, read from the parsed JSON (an empty object for a bare pid). */
  fields: (value: Record<string, unknown>) => Omit<R, keyof ProcessRecord>;
}

/** One process record on disk: written atomically with mode 0600, read back, checked against the live process. */
export class ProcessRecordFile<R extends ProcessRecord> {
  constructor(private readonly opts: RecordFileOptions<R>) {}

  get path(): string {
    return this.opts.path;
  }

  write(record: R): void {
    writeJsonAtomic(this.opts.path, record, 0o600);
    if (this.opts.pidPath !== undefined) writeFileAtomic(this.opts.pidPath, `${record.pid}\n`, 0o600);
  }

  /** Parses a record: our JSON, or a bare pid as other tools (and the proxy's pid file) write it. */
  parse(text: string): R | undefined {
    const trimmed = text.trim();
    if (/^\d+$/.test(trimmed)) return this.build(Number(trimmed), {});
    try {
      const value = JSON.parse(trimmed) as Record<string, unknown> | null;
      if (!value || typeof value !== 'object') return undefined;
      const pid = value.pid;
      if (typeof pid !== 'number' || !Number.isInteger(pid) || pid <= 0) return undefined;
      return this.build(pid, value);
    } catch {
      return undefined;
    }
  }

  private build(pid: number, value: Record<string, unknown>): R {
    const common: ProcessRecord = {
      pid,
      startTime: stringField(value.startTime),
      script: stringField(value.script),
    };
    return { ...common, ...this.opts.fields(value) } as R;
  }

  /** The record as written, not checked against the live process; undefined when absent or unreadable. */
  private recorded(): { exists: boolean; record?: R | undefined } {
    const text = readFileIfExists(this.opts.pidPath ?? this.opts.path);
    if (text === undefined) return { exists: false };
    const record = this.parse(text);
    if (record === undefined || this.opts.pidPath === undefined) return { exists: true, record };
    // A torn or older JSON beside the pid file: the pid file alone still identifies the process.
    const full = this.parse(readFileIfExists(this.opts.path) ?? '');
    return { exists: true, record: full?.pid === record.pid ? full : record };
  }

  read(): RecordState<R> {
    const { exists, record } = this.recorded();
    if (!exists) return { state: 'none' };
    if (record === undefined) return { state: 'stale' };
    return this.isLive(record) ? { state: 'running', record } : { state: 'stale', record };
  }

  /** True while the recorded process is alive and still the process the record describes. */
  isLive(record: R): boolean {
    return isRecordedProcess(record, processInfo(record.pid), this.opts.args);
  }

  /**
   * Removes the record. With a pid, only while the file still names that pid (or none): another process may
   * have written its own record meanwhile.
   */
  remove(pid?: number): void {
    if (pid !== undefined) {
      const { exists, record } = this.recorded();
      if (exists && record !== undefined && record.pid !== pid) return;
    }
    for (const file of [this.opts.path, this.opts.pidPath]) {
      if (file === undefined) continue;
      try {
        unlinkSync(file);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      }
    }
  }
}
