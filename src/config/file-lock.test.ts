import { existsSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { withFileLock } from './file-lock.js';

const dir = mkdtempSync(join(tmpdir(), 'pc-lock-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('withFileLock', () => {
  it('runs critical sections one at a time', async () => {
    const file = join(dir, 'counter');
    let inside = 0;
    let most = 0;
    await Promise.all(
      Array.from({ length: 20 }, () =>
        withFileLock(file, async () => {
          inside++;
          most = Math.max(most, inside);
          await new Promise((r) => setTimeout(r, 2));
          inside--;
        }),
      ),
    );
    expect(most).toBe(1);
    expect(existsSync(`${file}.lock`)).toBe(false);
  });

  it('breaks a stale lock left by a crashed process', async () => {
    const file = join(dir, 'stale');
    writeFileSync(`${file}.lock`, 'crashed');
    const old = new Date(Date.now() - 60_000);
    utimesSync(`${file}.lock`, old, old);
    expect(await withFileLock(file, () => 'got it', 1000)).toBe('got it');
  });

  it('never removes a lock another holder owns', async () => {
    const file = join(dir, 'owned');
    await withFileLock(file, () => {
      // Someone broke our lock as stale and took it: our release must leave theirs alone.
      writeFileSync(`${file}.lock`, 'someone else');
    });
    expect(existsSync(`${file}.lock`)).toBe(true);
  });
});
