import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { collectGarbageWhenIdle } from './idle-gc.js';

const BUILT = fileURLToPath(new URL('../../dist/util/idle-gc.js', import.meta.url));

/**
 * Runs the built module in a child node with --expose-gc (vitest's workers have no gc()): counts gc() calls while
 * the loop is busy for 1.5 s, then after it has been idle for 1.5 s.
 */
const script = `
const calls = { n: 0 };
const real = globalThis.gc;
globalThis.gc = () => { calls.n++; real(); };
const { collectGarbageWhenIdle } = await import(${JSON.stringify(BUILT)});
const stop = collectGarbageWhenIdle(200);
let keep = [];
const end = Date.now() + 1500;
while (Date.now() < end) {                      // busy: allocate, never yield for long
  keep.push(new Array(1000).fill(Math.random()));
  if (keep.length > 2000) keep = [];
  await new Promise((r) => setImmediate(r));
}
const busy = calls.n;
keep = [];
await new Promise((r) => setTimeout(r, 1500));   // idle
stop();
console.log(JSON.stringify({ busy, idle: calls.n - busy }));
`;

describe('collectGarbageWhenIdle', () => {
  it('is a no-op where gc() is not exposed', () => {
    expect(typeof (globalThis as { gc?: unknown }).gc).toBe('undefined');
    expect(() => collectGarbageWhenIdle(10)()).not.toThrow();
  });

  it('collects once the event loop goes idle, never while it is busy', async () => {
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ['--expose-gc', '--input-type=module', '-e', script],
      { timeout: 20_000 },
    );
    const { busy, idle } = JSON.parse(stdout) as { busy: number; idle: number };
    expect(busy).toBe(0);
    expect(idle).toBeGreaterThanOrEqual(1);
  });
});
