import { spawnSync } from 'node:child_process';
import { commandLineOf, isAlive, startTimeOf } from '../config/process-check.js';

/**
 * What can be learnt about a live process to tell "our daemon" from an unrelated process that reused its
 * pid: its command line and its start time. Linux reads /proc; other platforms ask `ps` (argv array, no shell).
 */
export interface ProcessInfo {
  alive: boolean;
  /** argv joined with spaces, when the platform shows it. */
  commandLine?: string | undefined;
  /** An opaque start-time token: equal tokens mean the same process. */
  startTime?: string | undefined;
}

function ps(pid: number, field: string): string | undefined {
  const r = spawnSync('ps', ['-o', `${field}=`, '-p', String(pid)], { encoding: 'utf8', timeout: 2000 });
  if (r.status !== 0 || typeof r.stdout !== 'string') return undefined;
  const out = r.stdout.trim();
  return out === '' ? undefined : out;
}

export function processInfo(pid: number): ProcessInfo {
  if (!isAlive(pid)) return { alive: false };
  if (process.platform === 'linux') {
    return { alive: true, commandLine: commandLineOf(pid), startTime: startTimeOf(pid) };
  }
  if (process.platform === 'win32') return { alive: true };
  return { alive: true, commandLine: ps(pid, 'command'), startTime: ps(pid, 'lstart') };
}
