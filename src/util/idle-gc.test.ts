import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterEach, describe, expect, it } from 'vitest';
import { collectGarbageWhenIdle } from './idle-gc.js';

type GcHost = { gc?: () => void };

/**
 * The real gc() in this worker, without a child process: vitest's workers run without --expose-gc, but V8 installs
 * gc() in every context created after the flag is set (the worker's own global stays without it).
 */
function exposedGc(): () => void {
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
}

describe('collectGarbageWhenIdle', () => {
  afterEach(() => {
    delete (globalThis as GcHost).gc;
  });

  it('is a no-op where gc() is not exposed', () => {
    expect(typeof (globalThis as GcHost).gc).toBe('undefined');
    expect(() => collectGarbageWhenIdle(10)()).not.toThrow();
  });

  // Counts gc() calls while the loop is busy for 1.5 s, then after it has been idle for 1.5 s.
  it('collects once the event loop goes idle, never while it is busy', async () => {
    const real = exposedGc();
    const calls = { n: 0 };
    (globalThis as GcHost).gc = () => {
      calls.n++;
      real();
    };
    const stop = collectGarbageWhenIdle(200);
    try {
      let keep: number[][] = [];
      const end = Date.now() + 1500;
      while (Date.now() < end) {
        // busy: allocate, never yield for long
        keep.push(new Array<number>(1000).fill(Math.random()));
        if (keep.length > 2000) keep = [];
        await new Promise((r) => setImmediate(r));
      }
      const busy = calls.n;
      keep = [];
      await new Promise((r) => setTimeout(r, 1500)); // idle
      expect(busy).toBe(0);
      expect(calls.n - busy).toBeGreaterThanOrEqual(1);
    } finally {
      stop();
    }
  });
});
