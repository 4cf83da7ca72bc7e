import { setTimeout as sleep } from 'node:timers/promises';
import type { ProcessRecord, ProcessRecordFile } from './process-record.js';

/** How long a stopped process gets for a clean exit before SIGKILL (`connect proxy stop` and the daemon say 5 s). */
export const STOP_GRACE_MS = 5000;
/** How long to wait for a SIGKILLed process to be gone before removing its record anyway. */
const KILL_WAIT_MS = 2000;
const POLL_MS = 50;

export interface StopResult {
  /** False when the record named no live process of ours: nothing was signalled. */
  signalled: boolean;
  /** True when the grace ran out and the process got SIGKILL. */
  forced: boolean;
}

function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err; // it exited meanwhile
  }
}

async function waitGone<R extends ProcessRecord>(
  file: ProcessRecordFile<R>,
  record: R,
  ms: number,
): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (!file.isLive(record)) return true;
    await sleep(POLL_MS);
  }
  return !file.isLive(record);
}

/**
 * Stops the process a record names: SIGTERM, up to `graceMs` for it to exit, then SIGKILL; the record is removed
 * (while it still names that pid). Every signal is sent only after checking (again) that the pid still belongs
 * to the recorded process, and liveness is polled on that process, so a pid the system has given to another
 * process since is never signalled.
 */
export async function stopProcess<R extends ProcessRecord>(
  file: ProcessRecordFile<R>,
  record: R,
  opts: { graceMs?: number; killWaitMs?: number } = {},
): Promise<StopResult> {
  let signalled = false;
  let forced = false;
  if (file.isLive(record)) {
    signalled = true;
    signal(record.pid, 'SIGTERM');
    if (!(await waitGone(file, record, opts.graceMs ?? STOP_GRACE_MS)) && file.isLive(record)) {
      forced = true;
      signal(record.pid, 'SIGKILL');
      await waitGone(file, record, opts.killWaitMs ?? KILL_WAIT_MS);
    }
  }
  file.remove(record.pid);
  return { signalled, forced };
}
