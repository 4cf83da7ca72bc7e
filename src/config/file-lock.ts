import { setTimeout as sleep } from 'node:timers/promises';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { ConnectError, ErrorCodes } from '../api/errors.js';

function readToken(lock: string): string | undefined {
  try {
    return readFileSync(lock, 'utf8');
  } catch {
    return undefined;
  }
}

/**
 * Serialises read-modify-write of a shared state file between processes (several `reach` processes update
 * active-routes.json). The lock file holds a random token so a holder only ever removes its own lock; a lock
 * older than `staleMs` was left by a crashed process and is broken (the critical sections here take
 * milliseconds).
 */
export async function withFileLock<T>(file: string, fn: () => T | Promise<T>, staleMs = 5000): Promise<T> {
  const lock = `${file}.lock`;
  const token = `${process.pid}-${randomBytes(8).toString('hex')}`;
  mkdirSync(dirname(lock), { recursive: true, mode: 0o700 });
  const giveUp = Date.now() + staleMs * 3;
  for (;;) {
    try {
      writeFileSync(lock, token, { flag: 'wx', mode: 0o600 });
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      try {
        const held = readToken(lock);
        if (Date.now() - statSync(lock).mtimeMs > staleMs && readToken(lock) === held) unlinkSync(lock);
      } catch {
        // released between our calls: try again
      }
      if (Date.now() > giveUp) {
        throw new ConnectError(
          ErrorCodes.TIMEOUT,
          `could not lock ${file}: another process keeps holding ${lock}`,
        );
      }
      await sleep(10 + Math.random() * 20);
    }
  }
  try {
    return await fn();
  } finally {
    // Remove the lock only if it is still ours (it may have been broken as stale and taken by another).
    if (readToken(lock) === token) {
      try {
        unlinkSync(lock);
      } catch {
        // already gone
      }
    }
  }
}
