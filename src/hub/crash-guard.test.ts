import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

// The built module (npm test builds first): node 20 runs no TypeScript, and the child must be a plain node.
const guard = fileURLToPath(new URL('../../dist/hub/crash-guard.js', import.meta.url));

describe('installCrashGuards', () => {
  it('a throw in a timer and an unhandled rejection are logged and the process keeps running', () => {
    // A real child process: what is under test is exactly whether the process exits.
    const script = `
      const { installCrashGuards, escapedFailures } = await import(${JSON.stringify(guard)});
      const { pino } = await import('pino');
      installCrashGuards(pino({ base: null, timestamp: false }));
      setTimeout(() => { throw new Error('boom in a handler'); }, 5);
      setTimeout(() => { void Promise.reject(new Error('rejected in a handler')); }, 10);
      setTimeout(() => { console.log('still running after ' + escapedFailures() + ' escaped failures'); }, 100);
    `;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
      encoding: 'utf8',
      timeout: 20_000,
    });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/uncaught exception in a handler; the hub keeps running/);
    expect(r.stdout).toMatch(/boom in a handler/);
    expect(r.stdout).toMatch(/unhandled rejection in a handler; the hub keeps running/);
    expect(r.stdout).toMatch(/still running after 2 escaped failures/);
  });
});
