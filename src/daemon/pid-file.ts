import { paths } from '../config/paths.js';
import type { ProcessInfo } from '../config/process-check.js';
import {
  isRecordedProcess,
  ProcessRecordFile,
  stringField,
  type ProcessRecord,
  type RecordState,
} from '../config/process-record.js';

/**
 * ~/.privateconnect/daemon.pid of a background daemon. Besides the pid it records the process start time and
 * the script it runs, so that a pid the system has since given to an unrelated process is never trusted (and
 * never signalled).
 */
export interface DaemonRecord extends ProcessRecord {
  hubUrl?: string | undefined;
  config?: string | undefined;
  startedAt?: string | undefined;
}

export type PidFileState = RecordState<DaemonRecord>;

/** The daemon runs our CLI's `up`. */
const DAEMON_ARGS = /(^|\s)up(\s|$)/;

export function daemonPidFile(file = paths.daemonPid()): ProcessRecordFile<DaemonRecord> {
  return new ProcessRecordFile<DaemonRecord>({
    path: file,
    args: DAEMON_ARGS,
    fields: (v) => ({
      hubUrl: stringField(v.hubUrl),
      config: stringField(v.config),
      startedAt: stringField(v.startedAt),
    }),
  });
}

/** Parses the pid file: our JSON record, or a bare pid as other tools write it. */
export function parsePidFile(text: string): DaemonRecord | undefined {
  return daemonPidFile().parse(text);
}

/** True when the live process is the daemon the record describes (see isRecordedProcess). */
export function matchesRecord(record: DaemonRecord, info: ProcessInfo): boolean {
  return isRecordedProcess(record, info, DAEMON_ARGS);
}

export function readPidFile(file = paths.daemonPid()): PidFileState {
  return daemonPidFile(file).read();
}
