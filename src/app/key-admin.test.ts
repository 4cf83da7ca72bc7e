import { describe, expect, it } from 'vitest';
import { MAX_KEY_LIFETIME_MS, parseDuration } from './key-admin.js';

describe('parseDuration (keys create --expires)', () => {
  it('reads a number and a unit', () => {
    expect(parseDuration('90s', '--expires')).toBe(90_000);
    expect(parseDuration('30m', '--expires')).toBe(30 * 60_000);
    expect(parseDuration('24h', '--expires')).toBe(24 * 3600_000);
    expect(parseDuration('7d', '--expires')).toBe(7 * 24 * 3600_000);
    expect(parseDuration('366d', '--expires')).toBe(MAX_KEY_LIFETIME_MS);
  });

  it('refuses anything else with one line naming the flag and the form', () => {
    for (const bad of ['', '24', 'h', '1.5h', '-1h', '0s', '367d', '24 hours', '1w']) {
      expect(() => parseDuration(bad, '--expires')).toThrow(
        /^invalid --expires '.*': use a number and s, m, h or d \(e\.g\. 24h\), from 1s to 366d$/,
      );
    }
  });
});
