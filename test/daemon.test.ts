/**
 * `connect daemon` end to end: real hub, real detached daemons, HOME in a temporary folder (with a space in
 * its path, so that every path the daemon builds is exercised with one).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  cleanupAll,
  runCli,
  signedInHome,
  sleep,
  startTestHub,
  tempDir,
  type TestHub,
} from './helpers/harness.js';
import { isAlive } from '../src/config/process-check.js';
import { parsePidFile, readPidFile } from '../src/daemon/pid-file.js';

let hub: TestHub;
let key: string;
let echo: Server;
let echoPort: number;
const sleepers: ChildProcess[] = [];
const daemonPidFiles: string[] = [];

/** A signed-in HOME whose path contains a space. */
async function home(label: string): Promise<string> {
  if (hub.process.child.exitCode !== null || hub.process.child.signalCode !== null) {
    throw new Error(
      `the test hub died (${String(hub.process.child.signalCode ?? hub.process.child.exitCode)}): ${hub.process.stdout} ${hub.process.stderr}`,
    );
  }
  const base = await signedInHome(hub, key, label);
  const spaced = join(base, 'my home');
  mkdirSync(spaced);
  const r = await runCli(['up', '--auth-only', '--hub', hub.url, '--api-key', key, '--label', label], {
    home: spaced,
  });
  if (r.code !== 0) throw new Error(`sign-in failed: ${r.stderr}`);
  return spaced;
}

const pidFile = (h: string): string => join(h, '.privateconnect', 'daemon.pid');
const logFile = (h: string): string => join(h, '.privateconnect', 'daemon.log');

function daemonPid(h: string): number {
  const record = parsePidFile(readFileSync(pidFile(h), 'utf8'));
  if (!record) throw new Error('no pid record');
  return record.pid;
}

async function startDaemon(h: string, args: string[] = []): Promise<number> {
  daemonPidFiles.push(pidFile(h));
  const r = await runCli(['daemon', 'start', ...args], { home: h });
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  const m = /\[ok\] Daemon started \(PID: (\d+)\)/.exec(r.stdout);
  expect(m).not.toBeNull();
  return Number(m![1]);
}

async function waitDead(pid: number, ms = 5000): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    const stat = spawnSync('ps', ['-o', 'stat=', '-p', String(pid)], { encoding: 'utf8' }).stdout.trim();
    if (!isAlive(pid) || stat.startsWith('Z')) return true;
    await sleep(100);
  }
  return false;
}

async function serviceStatus(h: string, name: string): Promise<string | undefined> {
  const credentials = JSON.parse(readFileSync(join(h, '.connect', 'credentials.json'), 'utf8')) as {
    apiKey: string;
  };
  const res = await fetch(`${hub.url}/v1/services`, { headers: { 'x-api-key': credentials.apiKey } });
  const list = (await res.json()) as { name: string; status: string }[];
  return list.find((s) => s.name === name)?.status;
}

async function waitOnline(h: string, name: string, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if ((await serviceStatus(h, name)) === 'online') return;
    await sleep(200);
  }
  throw new Error(`${name} did not come online; last status ${String(await serviceStatus(h, name))}`);
}

beforeAll(async () => {
  hub = await startTestHub();
  key = await hub.createKey();
  echo = createServer((s) => {
    s.on('error', () => undefined);
    s.pipe(s);
  });
  await new Promise<void>((r) => echo.listen(0, '127.0.0.1', r));
  echoPort = (echo.address() as { port: number }).port;
});

afterAll(async () => {
  // Daemons are detached: stop any a failed test left behind (only if the pid file still names our daemon).
  for (const file of daemonPidFiles) {
    const pf = readPidFile(file);
    if (pf.state === 'running') process.kill(pf.record.pid, 'SIGKILL');
  }
  sleepers.forEach((s) => s.kill('SIGKILL'));
  echo?.close();
  await cleanupAll();
});

describe('connect daemon', () => {
  it('install and start refuse when not signed in, pointing to `connect up`', async () => {
    const h = tempDir('pc-daemon-nosignin-');
    for (const action of ['start', 'install']) {
      const r = await runCli(['daemon', action], { home: h });
      expect(r.code).toBe(1);
      expect(r.stderr).toContain('Run `connect up` first.');
    }
    expect(existsSync(pidFile(h))).toBe(false);
  });

  it('rejects an unknown action', async () => {
    const r = await runCli(['daemon', 'bogus'], { home: tempDir() });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/unknown daemon action 'bogus'/);
  });

  it('starts in the background, shows status and logs, serves an exposure across a restart, stops', async () => {
    const h = await home('daemon-life');
    const start = await runCli(['daemon', 'start'], { home: h });
    daemonPidFiles.push(pidFile(h));
    expect(start.code).toBe(0);
    expect(start.stdout).toMatch(
      /^🚀 Starting daemon in background\.\.\.\n\n\[ok\] Daemon started \(PID: \d+\)\n {2}Logs: ~\/\.privateconnect\/daemon\.log\n$/,
    );
    const pid = Number(/PID: (\d+)/.exec(start.stdout)![1]);
    expect(isAlive(pid)).toBe(true);

    // The pid file is ours: pid, start time and the absolute script, written atomically (no temp files left).
    const record = parsePidFile(readFileSync(pidFile(h), 'utf8'))!;
    expect(record.pid).toBe(pid);
    expect(record.startTime).toBeDefined();
    expect(record.script).toMatch(/\/dist\/cli\/main\.js$/);
    expect(record.hubUrl).toBe(hub.url);
    // The process runs `node <abs main.js> up --hub <saved hub>` with CONNECT_DAEMON=1.
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
    expect(cmdline.slice(1)).toEqual([record.script, 'up', '--hub', hub.url]);
    expect(readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0')).toContain('CONNECT_DAEMON=1');

    const again = await runCli(['daemon', 'start'], { home: h });
    expect(again.code).toBe(0);
    expect(again.stdout).toContain(`Daemon is already running (PID: ${pid})`);

    const status = await runCli(['daemon'], { home: h });
    expect(status.code).toBe(0);
    const whoami = JSON.parse((await runCli(['whoami', '--json'], { home: h })).stdout) as Record<
      string,
      unknown
    >;
    const agentId = String(whoami.agentId ?? whoami.id);
    expect(status.stdout).toBe(
      [
        '📊 Private Connect Daemon Status',
        '',
        '  ● Status: running',
        `    PID: ${pid}`,
        '    Service installed: no',
        '    Platform: linux',
        `    Agent ID: ${agentId}`,
        '    Label: daemon-life',
        `    Hub: ${hub.url}`,
        '',
      ].join('\n'),
    );
    const json = JSON.parse((await runCli(['daemon', 'status', '--json'], { home: h })).stdout) as Record<
      string,
      unknown
    >;
    expect(json).toMatchObject({
      status: 'running',
      pid,
      mode: 'background',
      serviceInstalled: false,
      agentId,
      hub: hub.url,
    });

    // Hand an exposure to the running daemon; it persists it and serves it.
    const exposed = await runCli(['expose', 'echo-svc', String(echoPort)], { home: h });
    expect(exposed.code).toBe(0);
    expect(exposed.stdout).toContain(`running agent (pid ${pid})`);
    await waitOnline(h, 'echo-svc');

    const logs = await runCli(['daemon', 'logs'], { home: h });
    expect(logs.code).toBe(0);
    const sep = '─'.repeat(56);
    expect(logs.stdout).toMatch(
      new RegExp(
        `^📋 Daemon Logs \\(~/\\.privateconnect/daemon\\.log\\)\n\n${sep}\n` +
          `\\[\\d\\d:\\d\\d:\\d\\d\\] 🚀 Starting Private Connect Agent\\.\\.\\.\n` +
          `\\[\\d\\d:\\d\\d:\\d\\d\\] \\[ok\\] Registered with hub\n` +
          `\\[\\d\\d:\\d\\d:\\d\\d\\] \\[ok\\] Connected to hub via WebSocket\n`,
      ),
    );
    expect(logs.stdout).toMatch(
      new RegExp(`${sep}\n\n {2}Showing last 50 lines\\. Full log: ~/\\.privateconnect/daemon\\.log\n$`),
    );

    const restart = await runCli(['daemon', 'restart'], { home: h });
    expect(restart.stderr).toBe('');
    expect(restart.code).toBe(0);
    expect(restart.stdout).toMatch(/^\[ok\] Daemon stopped\n\[ok\] Daemon started \(PID: \d+\)\n/);
    const pid2 = daemonPid(h);
    expect(pid2).not.toBe(pid);
    expect(await waitDead(pid)).toBe(true);
    expect(restart.stdout).toContain(`(PID: ${pid2})`);

    // The new daemon restored the exposure: the hub shows it online and a client reaches the echo server.
    await waitOnline(h, 'echo-svc');
    const client = await signedInHome(hub, key, 'daemon-client');
    const check = await runCli(['reach', 'echo-svc', '--check'], { home: client });
    expect(check.code, check.stdout + check.stderr).toBe(0);

    const stop = await runCli(['daemon', 'stop'], { home: h });
    expect(stop.code).toBe(0);
    expect(stop.stdout).toBe('[ok] Daemon stopped\n');
    expect(existsSync(pidFile(h))).toBe(false);
    expect(await waitDead(pid2)).toBe(true);
    expect(readFileSync(logFile(h), 'utf8')).toContain('Stopping agent...');

    const stopped = await runCli(['daemon', 'status'], { home: h });
    expect(stopped.stdout).toContain('  ○ Status: stopped\n');
    expect(stopped.stdout).not.toContain('PID:');
    const again2 = await runCli(['daemon', 'stop'], { home: h });
    expect(again2.code).toBe(0);
    expect(again2.stdout).toContain('Daemon is not running');
  });

  it('reports a daemon whose child dies at once (bad hub URL) as failed within 3 s', async () => {
    const h = await home('daemon-bad');
    daemonPidFiles.push(pidFile(h));
    const began = Date.now();
    const r = await runCli(['daemon', 'start', '--hub', 'http://127.0.0.1:1'], { home: h });
    const elapsed = Date.now() - began;
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      '[x] Daemon failed to start: Process exited with code 1\n  Check logs: ~/.privateconnect/daemon.log\n',
    );
    expect(elapsed).toBeLessThan(3000);
    expect(existsSync(pidFile(h))).toBe(false);
    // The saved hub was not replaced by the bad one.
    const credentials = JSON.parse(readFileSync(join(h, '.connect', 'credentials.json'), 'utf8')) as {
      hubUrl: string;
    };
    expect(credentials.hubUrl).toBe(hub.url);
    expect(readFileSync(logFile(h), 'utf8')).toMatch(/\[x\] /);
  });

  it('cleans up a stale pid file after kill -9 of the daemon', async () => {
    const h = await home('daemon-kill');
    const pid = await startDaemon(h);
    process.kill(pid, 'SIGKILL');
    expect(await waitDead(pid)).toBe(true);
    const r = await runCli(['daemon', 'status'], { home: h });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('  ○ Status: stopped\n    (cleaned up stale PID file)\n');
    expect(existsSync(pidFile(h))).toBe(false);
    const again = await runCli(['daemon', 'status'], { home: h });
    expect(again.stdout).not.toContain('cleaned up');
    // The agent lock the killed daemon left behind does not block a new start.
    const pid2 = await startDaemon(h);
    expect((await runCli(['daemon', 'stop'], { home: h })).code).toBe(0);
    expect(await waitDead(pid2)).toBe(true);
  });

  it('never signals an unrelated process whose pid is in the pid file', async () => {
    const h = await home('daemon-reuse');
    const sleeper = spawn('sleep', ['30'], { stdio: 'ignore' });
    sleepers.push(sleeper);
    await new Promise((r) => sleeper.once('spawn', r));
    const pid = sleeper.pid!;
    mkdirSync(join(h, '.privateconnect'), { recursive: true });
    for (const content of [String(pid), JSON.stringify({ pid, script: '/x/dist/cli/main.js' })]) {
      writeFileSync(pidFile(h), content);
      const r = await runCli(['daemon', 'stop'], { home: h });
      expect(r.code).toBe(0);
      expect(r.stdout).toContain('Daemon is not running');
      expect(r.stdout).toContain('(cleaned up stale PID file)');
      expect(existsSync(pidFile(h))).toBe(false);
      await sleep(200);
      expect(sleeper.exitCode).toBeNull();
      expect(sleeper.signalCode).toBeNull();
    }
    writeFileSync(pidFile(h), String(pid));
    const status = await runCli(['daemon', 'status', '--json'], { home: h });
    expect(JSON.parse(status.stdout)).toMatchObject({ status: 'stopped', pid: null, staleCleaned: true });
    expect(sleeper.exitCode).toBeNull();
  });

  it('--replace stops the running daemon and starts a new one', async () => {
    const h = await home('daemon-replace');
    const pid = await startDaemon(h);
    const config = join(h, 'my config.yml');
    // A valid file: `up --config` refuses one that does not match the schema (an empty list does not).
    writeFileSync(config, 'services:\n  - name: staging-db\n');
    const r = await runCli(['daemon', 'start', '--replace', '--config', config], { home: h });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('[ok] Daemon stopped\n');
    const pid2 = Number(/Daemon started \(PID: (\d+)\)/.exec(r.stdout)![1]);
    expect(pid2).not.toBe(pid);
    expect(await waitDead(pid)).toBe(true);
    // --config reaches the agent as one argument, and a restart keeps it.
    const argv = (p: number): string[] =>
      readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0').filter(Boolean);
    expect(argv(pid2).slice(-2)).toEqual(['--config', config]);
    const restart = await runCli(['daemon', 'restart'], { home: h });
    expect(restart.code).toBe(0);
    const pid3 = daemonPid(h);
    expect(argv(pid3).slice(-2)).toEqual(['--config', config]);
    await runCli(['daemon', 'stop'], { home: h });
    expect(await waitDead(pid3)).toBe(true);
  });

  it('rotates an oversized log before starting', async () => {
    const h = await home('daemon-rotate');
    mkdirSync(join(h, '.privateconnect'), { recursive: true });
    writeFileSync(logFile(h), 'old line\n'.repeat(700_000)); // ~6.3 MB, over the 5 MB cap
    const pid = await startDaemon(h);
    expect(statSync(`${logFile(h)}.1`).size).toBeGreaterThan(5 * 1024 * 1024);
    expect(statSync(logFile(h)).size).toBeLessThan(100_000);
    expect(readFileSync(logFile(h), 'utf8')).toContain('Starting Private Connect Agent');
    await runCli(['daemon', 'stop'], { home: h });
    expect(await waitDead(pid)).toBe(true);
  });

  it('install says plainly when no systemd user manager runs, and points to `connect daemon start`', async (ctx) => {
    const state = spawnSync('systemctl', ['--user', 'is-system-running'], { encoding: 'utf8' });
    if (
      !state.error &&
      ['running', 'degraded', 'starting', 'initializing', 'maintenance'].includes(state.stdout.trim())
    ) {
      console.log('skipped: a systemd user manager runs here; install would change this machine');
      return ctx.skip();
    }
    const h = await home('daemon-install');
    const r = await runCli(['daemon', 'install'], { home: h });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      /cannot install the daemon as a systemd user service: (no systemd user manager is running|systemctl is not installed)/,
    );
    expect(r.stderr).toContain('Run it in the background instead: connect daemon start');
    expect(existsSync(join(h, '.config', 'systemd', 'user', 'private-connect.service'))).toBe(false);
    const un = await runCli(['daemon', 'uninstall'], { home: h });
    expect(un.code).toBe(0);
    expect(un.stdout).toContain('not installed');
  });
});
