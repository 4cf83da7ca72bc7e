/**
 * End-to-end harness: real hubs and agents as child processes of the built CLI (dist/cli/main.js), each
 * agent with its own HOME. Every process started here is killed by `cleanupAll()` (call it in afterAll).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import {
  lineOf,
  parseAgentEventRecord,
  type AgentEventOf,
  type AgentEventRecord,
  type AgentEventType,
} from '../../src/agent/agent-events.js';

export const CLI = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));

const children = new Set<ChildProcess>();
const dirs = new Set<string>();

export function tempDir(prefix = 'pc-test-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  dirs.add(dir);
  return dir;
}

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

function cliEnv(home: string, env: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const base = { ...process.env };
  // Do not inherit a developer's own settings into tests.
  delete base.CONNECT_HUB_URL;
  delete base.PRIVATECONNECT_TOKEN;
  return { ...base, HOME: home, NO_COLOR: '1', CONNECT_LOG_LEVEL: 'warn', ...env };
}

/** Runs the CLI to completion. */
export function runCli(
  args: string[],
  opts: { home: string; env?: NodeJS.ProcessEnv; timeoutMs?: number; cwd?: string },
): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      env: cliEnv(opts.home, opts.env),
      cwd: opts.cwd,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.add(child);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`connect ${args.join(' ')} timed out\nstdout: ${stdout}\nstderr: ${stderr}`));
    }, opts.timeoutMs ?? 30_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      children.delete(child);
      resolve({ code, stdout, stderr });
    });
  });
}

/** A long-running CLI process (hub, up, reach, expose, proxy) with helpers to wait for its output. */
export class CliProcess {
  stdout = '';
  stderr = '';
  /** The agent events the process recorded on its event channel (fd 3), in order. */
  readonly events: AgentEventRecord[] = [];
  readonly exited: Promise<number | null>;
  private listeners: (() => void)[] = [];

  constructor(readonly child: ChildProcess) {
    children.add(child);
    const changed = (): void => this.listeners.forEach((l) => l());
    child.stdout?.on('data', (d: Buffer) => {
      this.stdout += d.toString();
      changed();
    });
    child.stderr?.on('data', (d: Buffer) => {
      this.stderr += d.toString();
      changed();
    });
    const channel = child.stdio[3] as Readable | null | undefined;
    let partial = '';
    channel?.on('data', (d: Buffer) => {
      const lines = (partial + d.toString()).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) {
        const record = parseAgentEventRecord(line);
        if (record) this.events.push(record);
      }
      changed();
    });
    this.exited = new Promise((resolve) =>
      child.on('exit', (code) => {
        children.delete(child);
        changed();
        resolve(code);
      }),
    );
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  /** Waits until stdout+stderr match; returns the match. */
  waitFor(pattern: RegExp, timeoutMs = 15_000): Promise<RegExpMatchArray> {
    return this.until(
      () => (this.stdout + this.stderr).match(pattern) ?? undefined,
      String(pattern),
      timeoutMs,
    );
  }

  /**
   * Waits for the `nth` agent event of this type (matching `where`, if given) and, when it was logged, for its
   * line to have arrived on stdout/stderr too (the two pipes race), so that the output can be asserted next.
   */
  waitForEvent<T extends AgentEventType>(
    type: T,
    opts: { where?: (event: AgentEventOf<T>) => boolean; nth?: number; timeoutMs?: number } = {},
  ): Promise<AgentEventOf<T>> {
    const matches = (r: AgentEventRecord): boolean =>
      r.event.type === type && (opts.where?.(r.event as AgentEventOf<T>) ?? true);
    return this.until(
      () => {
        const record = this.events.filter(matches)[(opts.nth ?? 1) - 1];
        if (!record) return undefined;
        if (record.shown) {
          const text = lineOf(record);
          const upTo = this.events.slice(0, this.events.indexOf(record) + 1);
          const expected = upTo.filter((r) => r.shown && lineOf(r) === text).length;
          if ((this.stdout + this.stderr).split(text).length - 1 < expected) return undefined;
        }
        return record.event as AgentEventOf<T>;
      },
      `event ${type}${opts.nth ? ` #${opts.nth}` : ''}`,
      opts.timeoutMs ?? 15_000,
    );
  }

  private until<R>(probe: () => R | undefined, what: string, timeoutMs: number): Promise<R> {
    return new Promise((resolve, reject) => {
      const done = (): void => {
        clearTimeout(timer);
        this.listeners = this.listeners.filter((l) => l !== check);
      };
      const check = (): void => {
        const found = probe();
        if (found !== undefined) {
          done();
          resolve(found);
        } else if (this.child.exitCode !== null || this.child.signalCode !== null) {
          done();
          reject(new Error(`process exited before ${what}\nstdout: ${this.stdout}\nstderr: ${this.stderr}`));
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`timed out waiting for ${what}\nstdout: ${this.stdout}\nstderr: ${this.stderr}`));
      }, timeoutMs);
      this.listeners.push(check);
      check();
    });
  }

  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal);
    return this.exited;
  }
}

export function spawnCli(
  args: string[],
  opts: { home: string; env?: NodeJS.ProcessEnv; cwd?: string },
): CliProcess {
  return new CliProcess(
    spawn(process.execPath, [CLI, ...args], {
      // fd 3: the process's agent-event channel (see src/cli/output.ts), read by waitForEvent.
      env: { ...cliEnv(opts.home, opts.env), CONNECT_EVENTS_FD: '3' },
      cwd: opts.cwd,
      stdio: ['ignore', 'pipe', 'pipe', 'pipe'],
    }),
  );
}

/** A random tunnel-port range per hub, so parallel test files do not fight over ports. */
export function randomTunnelRange(size = 40): string {
  const low = 30000 + Math.floor(Math.random() * 600) * 50;
  return `${low}-${low + size - 1}`;
}

export interface TestHub {
  url: string;
  port: number;
  dataDir: string;
  home: string;
  tunnelPorts: string;
  process: CliProcess;
  /** `connect hub keys create --json` in `workspace` (default 'default'), with `args` such as `--role reach`. */
  createKey(workspace?: string, args?: string[]): Promise<string>;
  stop(): Promise<void>;
  kill9(): Promise<void>;
}

/** Starts `connect hub start` on 127.0.0.1 (port 0 unless given) and waits for its URL. */
export async function startTestHub(
  opts: {
    dataDir?: string;
    port?: number;
    tunnelPorts?: string;
    args?: string[];
    env?: NodeJS.ProcessEnv;
  } = {},
): Promise<TestHub> {
  const home = tempDir('pc-hub-home-');
  const dataDir = opts.dataDir ?? tempDir('pc-hub-data-');
  const tunnelPorts = opts.tunnelPorts ?? randomTunnelRange();
  const proc = spawnCli(
    [
      'hub',
      'start',
      '--port',
      String(opts.port ?? 0),
      '--data-dir',
      dataDir,
      '--tunnel-ports',
      tunnelPorts,
      ...(opts.args ?? []),
    ],
    { home, env: opts.env },
  );
  const m = await proc.waitFor(/listening on (https?:\/\/[^\s]+)/);
  const url = m[1] ?? '';
  return {
    url,
    port: Number(new URL(url).port),
    dataDir,
    home,
    tunnelPorts,
    process: proc,
    async createKey(workspace = 'default', args: string[] = []) {
      const r = await runCli(
        ['hub', 'keys', 'create', '--json', '--workspace', workspace, '--data-dir', dataDir, ...args],
        { home },
      );
      if (r.code !== 0) throw new Error(`keys create failed: ${r.stderr}`);
      return (JSON.parse(r.stdout) as { key: string }).key;
    },
    async stop() {
      await proc.stop('SIGTERM');
    },
    async kill9() {
      await proc.stop('SIGKILL');
    },
  };
}

/** A fresh HOME signed in to the hub as an agent with this label. */
export async function signedInHome(hub: { url: string }, key: string, label: string): Promise<string> {
  const home = tempDir(`pc-agent-${label}-`);
  const r = await runCli(['up', '--auth-only', '--hub', hub.url, '--api-key', key, '--label', label], {
    home,
  });
  if (r.code !== 0) throw new Error(`sign-in failed: ${r.stdout}${r.stderr}`);
  return home;
}

export async function cleanupAll(): Promise<void> {
  await Promise.all(
    [...children].map(
      (c) =>
        new Promise<void>((resolve) => {
          if (c.exitCode !== null || c.signalCode !== null) return resolve();
          c.once('exit', () => resolve());
          c.kill('SIGKILL');
        }),
    ),
  );
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
  dirs.clear();
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** True when something accepts TCP connections at host:port (to skip tests whose server is absent). */
export async function tcpReachable(port: number, host = '127.0.0.1', timeoutMs = 1000): Promise<boolean> {
  const { connect } = await import('node:net');
  return new Promise((resolve) => {
    const s = connect({ host, port });
    const done = (ok: boolean): void => {
      s.destroy();
      resolve(ok);
    };
    s.setTimeout(timeoutMs, () => done(false));
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
  });
}

/** A loopback port with nothing listening on it (bound then released), for "unreachable" cases. */
export async function closedPort(): Promise<number> {
  const { createServer } = await import('node:net');
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}
