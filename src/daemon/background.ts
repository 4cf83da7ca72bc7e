import { setTimeout as sleep } from 'node:timers/promises';
import { spawn } from 'node:child_process';
import { closeSync } from 'node:fs';
import { home, paths } from '../config/paths.js';
import { runningAgent } from '../agent/agent-lock.js';
import { openLogForAppend, rotateLogIfNeeded } from './log-file.js';
import { matchesRecord, removePidFile, writePidFile, type DaemonRecord } from './pid-file.js';
import { processInfo } from './process-info.js';
import type { AgentCommand } from './command.js';

/** How long `start` watches a new daemon before calling it started, and how long `stop` waits after SIGTERM. */
export const START_WAIT_MS = 3000;
export const STOP_WAIT_MS = 5000;

export type StartResult = { ok: true; record: DaemonRecord } | { ok: false; reason: string };

/**
 * Starts the agent detached from the terminal: `node <main.js> up --hub URL`, stdout and stderr appended to
 * the daemon log, CONNECT_DAEMON=1. Records it in the pid file, then watches it for up to START_WAIT_MS:
 * it has started once it holds the agent lock (signed in, serving), or is still alive at the end; if it exits
 * first, that is a failure and the pid file is removed.
 */
export async function startBackground(opts: {
  command: AgentCommand;
  hubUrl: string;
  config?: string | undefined;
  logPath?: string;
  pidPath?: string;
  waitMs?: number;
}): Promise<StartResult> {
  const logPath = opts.logPath ?? paths.daemonLog();
  const pidPath = opts.pidPath ?? paths.daemonPid();
  rotateLogIfNeeded(logPath);
  const fd = openLogForAppend(logPath);
  let exit: string | undefined;
  let child;
  try {
    child = spawn(opts.command.node, opts.command.args, {
      detached: true,
      stdio: ['ignore', fd, fd],
      env: { ...process.env, CONNECT_DAEMON: '1' },
      cwd: home(),
      windowsHide: true,
    });
  } finally {
    closeSync(fd);
  }
  child.on('error', (err) => (exit ??= err.message));
  child.on('exit', (code, signal) => {
    exit ??= signal ? `Process was killed by ${signal}` : `Process exited with code ${String(code)}`;
  });
  const pid = child.pid;
  if (pid === undefined) {
    await sleep(50); // let the 'error' event say why
    return { ok: false, reason: exit ?? 'the process could not be spawned' };
  }

  const record: DaemonRecord = {
    pid,
    startTime: processInfo(pid).startTime,
    script: opts.command.args[0],
    hubUrl: opts.hubUrl,
    config: opts.config,
    startedAt: new Date().toISOString(),
  };
  writePidFile(record, pidPath);

  const deadline = Date.now() + (opts.waitMs ?? START_WAIT_MS);
  while (exit === undefined && Date.now() < deadline) {
    if (runningAgent()?.pid === pid) break;
    await sleep(100);
  }
  if (exit === undefined && !processInfo(pid).alive) exit = 'Process exited';
  if (exit !== undefined) {
    removePidFile(pidPath);
    return { ok: false, reason: exit };
  }
  child.unref();
  return { ok: true, record };
}

/** True while the process in the record is alive and still the daemon it describes. */
export function isRecordAlive(record: DaemonRecord): boolean {
  return matchesRecord(record, processInfo(record.pid));
}

async function waitGone(record: DaemonRecord, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (!isRecordAlive(record)) return true;
    await sleep(100);
  }
  return !isRecordAlive(record);
}

/**
 * SIGTERM, up to STOP_WAIT_MS for a clean exit, then SIGKILL; the pid file is removed. Signals are only sent
 * after checking (again) that the pid still belongs to the recorded daemon.
 */
export async function stopBackground(
  record: DaemonRecord,
  opts: { pidPath?: string; waitMs?: number } = {},
): Promise<{ forced: boolean }> {
  const pidPath = opts.pidPath ?? paths.daemonPid();
  let forced = false;
  if (isRecordAlive(record)) {
    process.kill(record.pid, 'SIGTERM');
    if (!(await waitGone(record, opts.waitMs ?? STOP_WAIT_MS)) && isRecordAlive(record)) {
      forced = true;
      process.kill(record.pid, 'SIGKILL');
      await waitGone(record, 2000);
    }
  }
  removePidFile(pidPath);
  return { forced };
}
