/**
 * The proxy as a process: run it in the foreground (with its own hub session), start it in the background, stop it,
 * and ask whether it answers.
 *
 * Files: ~/.connect/proxy.pid holds the pid alone (so `kill $(cat ~/.connect/proxy.pid)` works); ~/.connect/proxy.json
 * holds the port, the proxy id and the process start time, so a pid reused by an unrelated process is never trusted.
 * Both are written by the proxy process itself once it listens, and removed when it exits. ~/.connect/proxy.log is
 * the background proxy's output, rotated to proxy.log.1 past 5 MB.
 */
import { spawn } from 'node:child_process';
import { closeSync } from 'node:fs';
import http from 'node:http';
import type { Readable } from 'node:stream';
import https from 'node:https';
import { join } from 'node:path';
import { HubApi } from '../agent/hub-api.js';
import type { HubConnection } from '../agent/hub-connection.js';
import { connectAgent } from '../agent/connect-agent.js';
import {
  noticeLogger,
  parseAgentEventRecord,
  type AgentEventRecord,
  type AgentEventSink,
} from '../agent/agent-events.js';
import { loadCredentials } from '../config/credentials.js';
import { cliEntryPoint, connectDir, paths, tildify } from '../config/paths.js';
import { startTimeOf } from '../config/process-check.js';
import { ProcessRecordFile, stringField, type ProcessRecord } from '../config/process-record.js';
import { STOP_GRACE_MS, stopProcess } from '../config/stop-process.js';
import { ConnectError, ErrorCodes, messageOf } from '../api/errors.js';
import { openLogForAppend, rotateLogIfNeeded } from '../daemon/log-file.js';
import { ProxyServer, type ProxyInfo } from './server.js';

const LOG_ROTATE_BYTES = 5 * 1024 * 1024;
const START_TIMEOUT_MS = 15_000;

export interface ProxyState extends ProcessRecord {
  port: number;
  id: string;
  startedAt: string;
}

/** proxy.json, with proxy.pid beside it holding the pid alone. */
const stateFile = (): ProcessRecordFile<ProxyState> =>
  new ProcessRecordFile<ProxyState>({
    path: join(connectDir(), 'proxy.json'),
    pidPath: paths.proxyPid(),
    fields: (v) => ({
      port: typeof v.port === 'number' ? v.port : 0,
      id: stringField(v.id) ?? '',
      startedAt: stringField(v.startedAt) ?? '',
    }),
  });

/** The recorded proxy when its process is alive and really ours; stale files are removed. */
export function runningProxy(): ProxyState | undefined {
  const file = stateFile();
  const recorded = file.read();
  if (recorded.state === 'running') return recorded.record;
  if (recorded.state === 'stale' && recorded.record) file.remove(recorded.record.pid);
  return undefined;
}

export function writeProxyState(state: ProxyState): void {
  stateFile().write(state);
}

/** Removes the pid and state files when they still name `pid`. */
export function clearProxyState(pid: number): void {
  stateFile().remove(pid);
}

/** GET / on the proxy's own host: its identity and routes, or undefined when nothing (or something else) answers. */
export function fetchProxyInfo(port: number, tls = false, timeoutMs = 1500): Promise<ProxyInfo | undefined> {
  return new Promise((resolve) => {
    const request = (tls ? https : http).request(
      {
        host: '127.0.0.1',
        port,
        path: '/',
        headers: { host: 'localhost', accept: 'application/json' },
        agent: false,
        timeout: timeoutMs,
        rejectUnauthorized: false,
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => {
          try {
            const info = JSON.parse(body) as ProxyInfo;
            resolve(info.proxy === 'private-connect' ? info : undefined);
          } catch {
            resolve(undefined);
          }
        });
        res.on('error', () => resolve(undefined));
      },
    );
    request.on('timeout', () => request.destroy(new Error('timed out')));
    request.on('error', () => resolve(undefined));
    request.end();
  });
}

/** Seed 000, "Health Monitoring": whether a Private Connect proxy answers on this port. */
export async function isProxyResponding(port: number, tls = false): Promise<boolean> {
  return (await fetchProxyInfo(port, tls)) !== undefined;
}

export interface RunningProxy {
  server: ProxyServer;
  stop(): Promise<void>;
}

/**
 * Runs the proxy in this process: its own hub session (kind 'proxy') when signed in, the server, the pid/state
 * files. Without a sign-in only local routes are served.
 */
export async function runProxy(port: number, events: AgentEventSink): Promise<RunningProxy> {
  const other = runningProxy();
  if (other && other.pid !== process.pid) {
    throw new ConnectError(
      ErrorCodes.CONFLICT,
      `a proxy is already running (pid ${other.pid}${other.port ? `, port ${other.port}` : ''})`,
      'Stop it first: connect proxy stop',
    );
  }
  const credentials = loadCredentials();
  let conn: HubConnection | undefined;
  let api: HubApi | undefined;
  if (credentials) {
    api = new HubApi(credentials.hubUrl, credentials.apiKey);
    conn = connectAgent(credentials, 'proxy', { events });
    conn.start().then(
      () => events({ type: 'proxy-hub-connected', hubUrl: credentials.hubUrl }),
      (err: unknown) => events({ type: 'proxy-hub-refused', reason: messageOf(err) }),
    );
  } else {
    events({ type: 'proxy-not-signed-in' });
  }
  const server = new ProxyServer({ port, conn, api, log: noticeLogger(events) });
  try {
    await server.start();
  } catch (err) {
    conn?.stop();
    await server.stop();
    throw err;
  }
  writeProxyState({
    pid: process.pid,
    port: server.port,
    id: server.id,
    startTime: startTimeOf(process.pid),
    startedAt: new Date().toISOString(),
  });
  return {
    server,
    async stop() {
      conn?.stop();
      await server.stop();
      clearProxyState(process.pid);
    },
  };
}

/**
 * Starts `connect proxy start --foreground` detached, its output appended to ~/.connect/proxy.log, and returns once
 * it answers. An already running proxy is returned as is.
 */
export async function startProxyInBackground(
  port: number,
): Promise<{ state: ProxyState; alreadyRunning: boolean }> {
  const existing = runningProxy();
  if (existing) {
    if (existing.port && (await isProxyResponding(existing.port)))
      return { state: existing, alreadyRunning: true };
    throw new ConnectError(
      ErrorCodes.CONFLICT,
      `a proxy process is running (pid ${existing.pid}) but does not answer`,
      'Stop it with `connect proxy stop`, then start again.',
    );
  }
  const log = paths.proxyLog();
  // The daemon's log helpers, keeping one old generation (proxy.log.1).
  rotateLogIfNeeded(log, { maxBytes: LOG_ROTATE_BYTES, keep: 1 });
  const fd = openLogForAppend(log);
  // fd 3 is the child's event channel: its structured records say why it failed, if it exits at start.
  const child = spawn(
    process.execPath,
    [cliEntryPoint(), 'proxy', 'start', '--foreground', '--port', String(port)],
    {
      detached: true,
      stdio: ['ignore', fd, fd, 'pipe'],
      env: { ...process.env, CONNECT_EVENTS_FD: '3' },
    },
  );
  closeSync(fd);
  child.unref();
  const records = collectRecords(child.stdio[3] as Readable | null);
  let exited: number | null | undefined;
  child.once('exit', (code) => (exited = code));
  child.once('error', () => (exited = -1));
  const deadline = Date.now() + START_TIMEOUT_MS;
  try {
    while (Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
      if (exited !== undefined) {
        // The exit may overtake the channel's last bytes: let them in.
        await records.ended;
        const failure = records.list.filter((r) => r.mark === 'x').at(-1);
        throw new ConnectError(
          ErrorCodes.INTERNAL,
          `the proxy exited at start (code ${exited})${failure ? `: ${failure.message}` : ''}`,
          `See ${tildify(log)}`,
        );
      }
      const info = await fetchProxyInfo(port, false, 500);
      if (info && info.pid === child.pid) {
        return {
          state: runningProxy() ?? {
            pid: info.pid,
            port: info.port,
            id: info.id,
            startedAt: new Date().toISOString(),
          },
          alreadyRunning: false,
        };
      }
    }
  } finally {
    // The proxy outlives this command: its later records go nowhere (it stops writing them).
    child.stdio[3]?.destroy();
  }
  if (child.pid) process.kill(child.pid, 'SIGKILL');
  throw new ConnectError(
    ErrorCodes.TIMEOUT,
    `the proxy did not answer on port ${port} within ${START_TIMEOUT_MS / 1000}s`,
    `See ${tildify(log)}`,
  );
}

/** The records read from a child's event channel, and a promise that settles when it ends (at most 1 s). */
function collectRecords(stream: Readable | null): {
  list: AgentEventRecord[];
  ended: Promise<void>;
} {
  const list: AgentEventRecord[] = [];
  if (!stream) return { list, ended: Promise.resolve() };
  let buffered = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => {
    buffered += chunk;
    const lines = buffered.split('\n');
    buffered = lines.pop() ?? '';
    for (const line of lines) {
      const record = parseAgentEventRecord(line);
      if (record) list.push(record);
    }
  });
  stream.on('error', () => undefined);
  const ended = new Promise<void>((resolve) => {
    stream.once('end', resolve);
    stream.once('close', resolve);
    setTimeout(resolve, 1000).unref();
  });
  return { list, ended };
}

/** SIGTERM, then SIGKILL after 5 s; removes the pid/state files. Undefined when no proxy was running. */
export async function stopProxy(): Promise<{ state: ProxyState; forced: boolean } | undefined> {
  const state = runningProxy();
  if (!state) return undefined;
  const { forced } = await stopProcess(stateFile(), state, { graceMs: STOP_GRACE_MS });
  return { state, forced };
}
