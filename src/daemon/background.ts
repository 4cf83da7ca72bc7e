import { setTimeout as sleep } from 'node:timers/promises';
import { spawn } from 'node:child_process';
import { closeSync } from 'node:fs';
import { home, paths } from '../config/paths.js';
import { runningAgent } from '../agent/agent-lock.js';
import { openLogForAppend, rotateLogIfNeeded } from './log-file.js';
import { isAlive } from '../config/process-check.js';
import { processRecordOf } from '../config/process-record.js';
import { STOP_GRACE_MS, stopProcess } from '../config/stop-process.js';
import { daemonPidFile, type DaemonRecord } from './pid-file.js';
import type { AgentCommand } from './command.js';

/** How long `start` watches a new daemon before calling it started. */
export const START_WAIT_MS = 3000;

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
  const pidFile = daemonPidFile(opts.pidPath);
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
    ...processRecordOf(pid),
    script: opts.command.args[0],
    hubUrl: opts.hubUrl,
    config: opts.config,
    startedAt: new Date().toISOString(),
  };
  pidFile.write(record);

  const deadline = Date.now() + (opts.waitMs ?? START_WAIT_MS);
  while (exit === undefined && Date.now() < deadline) {
    if (runningAgent()?.pid === pid) break;
    await sleep(100);
  }
  if (exit === undefined && !isAlive(pid)) exit = 'Process exited';
  if (exit !== undefined) {
    pidFile.remove(pid);
    return { ok: false, reason: exit };
  }
  child.unref();
  return { ok: true, record };
}

/** SIGTERM, up to 5 s for a clean exit, then SIGKILL; the pid file is removed (see stopProcess). */
export async function stopBackground(
  record: DaemonRecord,
  opts: { pidPath?: string; waitMs?: number } = {},
): Promise<{ forced: boolean }> {
  const { forced } = await stopProcess(daemonPidFile(opts.pidPath), record, {
    graceMs: opts.waitMs ?? STOP_GRACE_MS,
  });
  return { forced };
}
