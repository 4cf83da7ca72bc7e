import { paths } from '../config/paths.js';
import { readFileIfExists, writeJsonAtomic } from '../config/atomic-file.js';
import { isOurProcess, startTimeOf } from '../config/process-check.js';
import { unlinkSync } from 'node:fs';

/** Marks that an agent (`connect up` or the daemon) is running for this identity, so `expose` can hand off. */
interface AgentLock {
  pid: number;
  startTime?: string;
  hubUrl: string;
  startedAt: string;
}

export function writeAgentLock(hubUrl: string): void {
  const lock: AgentLock = { pid: process.pid, hubUrl, startedAt: new Date().toISOString() };
  const startTime = startTimeOf(process.pid);
  if (startTime !== undefined) lock.startTime = startTime;
  writeJsonAtomic(paths.agentLock(), lock, 0o600);
}

export function clearAgentLock(): void {
  const running = runningAgent();
  if (running && running.pid !== process.pid) return;
  try {
    unlinkSync(paths.agentLock());
  } catch {
    // already gone
  }
}

/** The running agent of this identity, if any: its pid must be alive and still be our process. */
export function runningAgent(): AgentLock | undefined {
  const text = readFileIfExists(paths.agentLock());
  if (!text) return undefined;
  try {
    const lock = JSON.parse(text) as AgentLock;
    return isOurProcess(lock.pid, lock.startTime) ? lock : undefined;
  } catch {
    return undefined;
  }
}
