import { readFileSync } from 'node:fs';

/**
 * True when a process with this pid exists and is not a zombie (signal 0 probes without signalling). A stopped
 * background process is reparented to init, and until init reaps it, signal 0 still succeeds on it.
 */
export function isAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  return !isZombie(pid);
}

function isZombie(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.charAt(stat.lastIndexOf(')') + 2) === 'Z';
  } catch {
    return false; // no /proc (not Linux) or the process just went away: signal 0 already answered
  }
}

/**
 * The command line of a live process, where the platform shows it (/proc on Linux). Used so that a pid file
 * whose pid was reused by an unrelated process is never trusted.
 */
export function commandLineOf(pid: number): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim();
  } catch {
    return undefined;
  }
}

/** Start time of a process in clock ticks since boot (Linux), to tell a pid apart from a later reuse. */
export function startTimeOf(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may contain spaces) start after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return fields[19];
  } catch {
    return undefined;
  }
}

/**
 * True when `pid` is alive and is the process that recorded `startTime` (when known) and runs our CLI.
 * On platforms without /proc, liveness is all we can check.
 */
export function isOurProcess(pid: number, startTime?: string, marker = 'main.js'): boolean {
  if (!isAlive(pid)) return false;
  const cmdline = commandLineOf(pid);
  if (cmdline === undefined) return process.platform !== 'linux';
  if (startTime !== undefined && startTimeOf(pid) !== startTime) return false;
  return cmdline.includes(marker) || cmdline.includes('connect');
}
