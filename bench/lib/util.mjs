/**
 * Small process, port and statistics helpers for the benchmark. Every process started here is tracked and killed
 * (by its own pid) by `stopAll()`, which run.mjs calls on exit, on errors and on SIGINT/SIGTERM.
 */
import { spawn } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** @type {Set<Proc>} */
const procs = new Set();
/** @type {Set<string>} */
const dirs = new Set();

export const sleep = (/** @type {number} */ ms) => new Promise((r) => setTimeout(r, ms));

/** @param {string} prefix */
export function tempDir(prefix) {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  dirs.add(dir);
  return dir;
}

/** Soft file-descriptor limit children get (10,000 idle streams need ~10k fds in four processes). */
export const NOFILE = 65536;

/** A long-running child process with its output captured. */
export class Proc {
  /**
   * @param {string} name for error messages
   * @param {string} cmd
   * @param {string[]} args
   * @param {{ env?: NodeJS.ProcessEnv, raiseNofile?: boolean, logFile?: boolean }} [opts] `logFile`: the
   *   process writes its output to a file rather than to a pipe read by this process, as a daemon does. For the
   *   agents: they log a line per connection, and reading those lines here would wake the measuring process on
   *   every connection it times.
   */
  constructor(name, cmd, args, opts = {}) {
    this.name = name;
    this.captured = '';
    /** @type {string | undefined} */
    this.logPath = opts.logFile ? join(tempDir('pc-bench-log-'), 'output.log') : undefined;
    /** @type {(() => void)[]} */
    this.listeners = [];
    const quoted = [cmd, ...args].map((a) => `'${a.replaceAll("'", "'\\''")}'`).join(' ');
    // `exec` keeps the pid ours: the shell is replaced by the command once the limit is raised.
    const [file, argv] = opts.raiseNofile
      ? ['bash', ['-c', `ulimit -n ${NOFILE} 2>/dev/null || true; exec ${quoted}`]]
      : [cmd, args];
    const fd = this.logPath ? openSync(this.logPath, 'a') : undefined;
    this.child = spawn(file, argv, {
      env: opts.env ?? process.env,
      stdio: fd === undefined ? ['pipe', 'pipe', 'pipe'] : ['pipe', fd, fd],
    });
    if (fd !== undefined) closeSync(fd);
    procs.add(this);
    const onData = (/** @type {Buffer} */ d) => {
      this.captured += d.toString();
      if (this.captured.length > 1_000_000) this.captured = this.captured.slice(-500_000);
      this.listeners.forEach((l) => l());
    };
    this.child.stdout?.on('data', onData);
    this.child.stderr?.on('data', onData);
    this.child.on('error', (err) => {
      this.captured += `\n[spawn error] ${err.message}`;
    });
    this.exited = new Promise((resolve) =>
      this.child.on('exit', (code, signal) => {
        procs.delete(this);
        this.listeners.forEach((l) => l());
        resolve(code ?? signal);
      }),
    );
  }

  /** Everything the process printed so far (the last 1 MB of its log file with `logFile`). */
  get out() {
    if (!this.logPath) return this.captured;
    try {
      const text = readFileSync(this.logPath, 'utf8');
      return text.slice(-1_000_000) + this.captured;
    } catch {
      return this.captured;
    }
  }

  get pid() {
    return this.child.pid ?? -1;
  }

  get alive() {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /**
   * @param {RegExp} pattern
   * @param {number} [timeoutMs]
   * @returns {Promise<RegExpMatchArray>}
   */
  waitFor(pattern, timeoutMs = 20_000) {
    return new Promise((resolve, reject) => {
      const done = () => {
        clearTimeout(timer);
        clearInterval(poll);
        this.listeners = this.listeners.filter((l) => l !== check);
      };
      const check = () => {
        const m = this.out.match(pattern);
        if (m) {
          done();
          resolve(m);
        } else if (!this.alive) {
          done();
          reject(
            new Error(
              `${this.name} exited (${String(this.child.exitCode ?? this.child.signalCode)}) before printing ${String(pattern)}:\n${this.out.slice(-2000)}`,
            ),
          );
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(
          new Error(`${this.name}: timed out waiting for ${String(pattern)}:\n${this.out.slice(-2000)}`),
        );
      }, timeoutMs);
      this.listeners.push(check);
      // A log file has no 'data' events: look at it now and then.
      const poll = this.logPath ? setInterval(check, 25) : undefined;
      check();
    });
  }

  /** SIGTERM, then SIGKILL after 2 s. */
  async stop() {
    if (!this.alive) return;
    this.child.kill('SIGTERM');
    const t = setTimeout(() => this.alive && this.child.kill('SIGKILL'), 2000);
    await this.exited;
    clearTimeout(t);
  }
}

/**
 * Runs a command to completion.
 * @param {string} cmd
 * @param {string[]} args
 * @param {{ env?: NodeJS.ProcessEnv, timeoutMs?: number, raiseNofile?: boolean }} [opts]
 * @returns {Promise<{ code: number | string | null, out: string }>}
 */
export async function run(cmd, args, opts = {}) {
  const p = new Proc(cmd, cmd, args, opts);
  p.child.stdin.end();
  const timer = setTimeout(() => p.alive && p.child.kill('SIGKILL'), opts.timeoutMs ?? 60_000);
  const code = await p.exited;
  clearTimeout(timer);
  return { code, out: p.out };
}

export async function stopAll() {
  await Promise.all([...procs].map((p) => p.stop()));
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
  dirs.clear();
}

/** Kills children synchronously (for process 'exit'). */
export function killAllSync() {
  for (const p of procs) if (p.alive) p.child.kill('SIGKILL');
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
}

/** A free TCP port on 127.0.0.1 (the kernel's pick; released right away). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = /** @type {import('node:net').AddressInfo} */ (s.address());
      s.close(() => resolve(port));
    });
  });
}

/** Resident set size of a process in bytes, from /proc (undefined where /proc is absent). */
export function rssOf(/** @type {number} */ pid) {
  try {
    const m = readFileSync(`/proc/${pid}/status`, 'utf8').match(/VmRSS:\s+(\d+) kB/);
    return m ? Number(m[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

/** True when `cmd` is on PATH (or an absolute path that exists and runs). */
export async function have(/** @type {string} */ cmd) {
  const r = await run('bash', ['-c', `command -v ${cmd}`], { timeoutMs: 5000 });
  return r.code === 0 ? r.out.trim() : undefined;
}

// ---------------------------------------------------------------------------------------------------------------
// Statistics

/** @param {number[]} xs */
export function sorted(xs) {
  return [...xs].sort((a, b) => a - b);
}

/** Nearest-rank percentile of an array (p in 0..100). */
export function percentile(/** @type {number[]} */ xs, /** @type {number} */ p) {
  if (xs.length === 0) return NaN;
  const s = sorted(xs);
  const i = Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1));
  return s[i];
}

export const median = (/** @type {number[]} */ xs) => {
  if (xs.length === 0) return NaN;
  const s = sorted(xs);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

/**
 * Median of several runs with its spread.
 * @param {number[]} runs
 * @returns {{ median: number, min: number, max: number, runs: number[] }}
 */
export function summary(runs) {
  const clean = runs.filter((x) => Number.isFinite(x));
  return {
    median: median(clean),
    min: clean.length ? Math.min(...clean) : NaN,
    max: clean.length ? Math.max(...clean) : NaN,
    runs: clean,
  };
}
