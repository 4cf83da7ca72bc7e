import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

/**
 * What can be learnt about a process to tell "our process" from an unrelated one that the system later gave the
 * same pid: whether it lives, its command line and its start time. Linux reads /proc; macOS (and other Unixes)
 * asks `ps` (argv array, no shell); Windows shows neither.
 */
export interface ProcessInfo {
  alive: boolean;
  /** argv joined with spaces, when the platform shows it. */
  commandLine?: string | undefined;
  /** An opaque start-time token: equal tokens mean the same process. */
  startTime?: string | undefined;
}

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

/** One `ps` column of a process, where there is no /proc. */
function ps(pid: number, field: string): string | undefined {
  const r = spawnSync('ps', ['-o', `${field}=`, '-p', String(pid)], { encoding: 'utf8', timeout: 2000 });
  if (r.status !== 0 || typeof r.stdout !== 'string') return undefined;
  const out = r.stdout.trim();
  return out === '' ? undefined : out;
}

/** The command line of a process, where the platform shows it (/proc on Linux, `ps` elsewhere but Windows). */
export function commandLineOf(pid: number): string | undefined {
  if (process.platform === 'win32') return undefined;
  if (process.platform !== 'linux') return ps(pid, 'command');
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim();
  } catch {
    return undefined;
  }
}

/**
 * A start-time token of a process, to tell a pid apart from a later reuse: clock ticks since boot on Linux, the
 * `ps` start date elsewhere (one clock for the writer of a record and its reader, so they compare equal).
 */
export function startTimeOf(pid: number): string | undefined {
  if (process.platform === 'win32') return undefined;
  if (process.platform !== 'linux') return ps(pid, 'lstart');
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may contain spaces) start after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return fields[19];
  } catch {
    return undefined;
  }
}

export function processInfo(pid: number): ProcessInfo {
  if (!isAlive(pid)) return { alive: false };
  return { alive: true, commandLine: commandLineOf(pid), startTime: startTimeOf(pid) };
}
