import { openSync, closeSync, unlinkSync, statSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Serialises read-modify-write of a shared state file between processes (several `reach` processes update
 * active-routes.json). A lock older than `staleMs` is from a crashed process and is broken.
 */
export async function withFileLock<T>(file: string, fn: () => T | Promise<T>, staleMs = 5000): Promise<T> {
  const lock = `${file}.lock`;
  mkdirSync(dirname(lock), { recursive: true, mode: 0o700 });
  const deadline = Date.now() + staleMs * 2;
  for (;;) {
    try {
      closeSync(openSync(lock, 'wx', 0o600));
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      try {
        if (Date.now() - statSync(lock).mtimeMs > staleMs || Date.now() > deadline) unlinkSync(lock);
      } catch {
        // the holder released it between our two calls
      }
      await sleep(10 + Math.random() * 20);
    }
  }
  try {
    return await fn();
  } finally {
    try {
      unlinkSync(lock);
    } catch {
      // already broken as stale by another process
    }
  }
}
