import {
  closeSync,
  copyFileSync,
  mkdirSync,
  openSync,
  readSync,
  renameSync,
  statSync,
  truncateSync,
  unlinkSync,
} from 'node:fs';
import { dirname } from 'node:path';

/** The daemon log is rotated once it reaches this size; this many older files are kept (daemon.log.1 ... .N). */
export const LOG_MAX_BYTES = 5 * 1024 * 1024;
export const LOG_KEEP = 3;
/** How often the agent process, running as the daemon, checks the size of its own log. */
export const LOG_CHECK_INTERVAL_MS = 60_000;

export interface RotateOptions {
  maxBytes?: number;
  keep?: number;
}

function sizeOf(path: string): number | undefined {
  try {
    return statSync(path).size;
  } catch {
    return undefined;
  }
}

/**
 * Rotates `path` when it has reached `maxBytes`: daemon.log.(N-1) → .N, ..., daemon.log → .1, then the live
 * file is emptied. The live file is copied and truncated rather than renamed, because its writers (the
 * daemon's stdout/stderr, systemd's `append:`, launchd's StandardOutPath) hold a descriptor opened in append
 * mode: after truncation their next write lands at offset 0 of the same file, with no reopen needed.
 * Lines written between the copy and the truncation are lost; at one rotation per 5 MB that is acceptable.
 * Returns true when it rotated.
 */
export function rotateLogIfNeeded(path: string, opts: RotateOptions = {}): boolean {
  const maxBytes = opts.maxBytes ?? LOG_MAX_BYTES;
  const keep = Math.max(1, opts.keep ?? LOG_KEEP);
  const size = sizeOf(path);
  if (size === undefined || size < maxBytes) return false;
  try {
    unlinkSync(`${path}.${keep}`);
  } catch {
    // nothing to drop yet
  }
  for (let i = keep - 1; i >= 1; i--) {
    try {
      renameSync(`${path}.${i}`, `${path}.${i + 1}`);
    } catch {
      // that generation does not exist yet
    }
  }
  copyFileSync(path, `${path}.1`);
  truncateSync(path, 0);
  return true;
}

/** Opens the log for appending (creating its folder), for a child's stdout and stderr. */
export function openLogForAppend(path: string): number {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  return openSync(path, 'a', 0o600);
}

/**
 * Checks the log every `intervalMs` from inside the daemon's own process and rotates it when over the cap.
 * The timer does not keep the process alive. Returns a function that stops the checks.
 */
export function startLogRotation(
  path: string,
  opts: RotateOptions & { intervalMs?: number } = {},
): () => void {
  const check = (): void => {
    try {
      rotateLogIfNeeded(path, opts);
    } catch (err) {
      process.stderr.write(`[!] cannot rotate ${path}: ${(err as Error).message}\n`);
    }
  };
  check();
  const timer = setInterval(check, opts.intervalMs ?? LOG_CHECK_INTERVAL_MS);
  timer.unref();
  return () => clearInterval(timer);
}

/** The last `count` lines of a file (without the trailing newline), reading only its tail. */
export function tailLines(path: string, count: number): string[] {
  if (count <= 0) return [];
  const fd = openSync(path, 'r');
  try {
    const size = statSync(path).size;
    let chunk = 64 * 1024;
    for (;;) {
      const start = Math.max(0, size - chunk);
      const buf = Buffer.alloc(size - start);
      let read = 0;
      while (read < buf.length) {
        const n = readSync(fd, buf, read, buf.length - read, start + read);
        if (n === 0) break;
        read += n;
      }
      let text = buf.subarray(0, read).toString('utf8');
      if (text.endsWith('\n')) text = text.slice(0, -1);
      const lines = text === '' ? [] : text.split('\n');
      // The first line of a partial read may be cut: only trust it when the read reached the file's start.
      if (start === 0) return lines.slice(-count);
      if (lines.length > count) return lines.slice(-count);
      chunk *= 4;
    }
  } finally {
    closeSync(fd);
  }
}
