import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { DEFAULT_HUB_LIMITS } from './limits.js';

const kebab = (key: string): string => key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);

describe('hub limits', () => {
  it('every limit is documented in the README table under its --limit name', () => {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    const table = readme.slice(readme.indexOf('### Limits'), readme.indexOf('## Where things live'));
    const missing = Object.keys(DEFAULT_HUB_LIMITS).filter((key) => !table.includes(`\`${kebab(key)}\``));
    expect(missing).toEqual([]);
  });

  it('every default is a positive integer', () => {
    for (const [key, value] of Object.entries(DEFAULT_HUB_LIMITS)) {
      expect(Number.isInteger(value) && value > 0, key).toBe(true);
    }
  });
});
