import { afterEach, describe, expect, it, vi } from 'vitest';
import { throttle } from './throttle.js';

afterEach(() => vi.useRealTimers());

describe('throttle', () => {
  it('passes the first event at once, then one per interval counting the events it stands for', () => {
    vi.useFakeTimers();
    const calls: [number, string][] = [];
    const report = throttle(1000, (count: number, what: string) => calls.push([count, what]));
    report('a');
    report('b');
    report('c');
    expect(calls).toEqual([[1, 'a']]);
    vi.advanceTimersByTime(1000);
    report('d');
    expect(calls).toEqual([
      [1, 'a'],
      [3, 'd'],
    ]);
  });
});
