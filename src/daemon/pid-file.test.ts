import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { matchesRecord, parsePidFile, readPidFile } from './pid-file.js';
import { processInfo } from '../config/process-check.js';

const dirs: string[] = [];
const children: ChildProcess[] = [];
afterAll(() => {
  children.forEach((c) => c.kill('SIGKILL'));
  dirs.forEach((d) => rmSync(d, { recursive: true, force: true }));
});

describe('parsePidFile', () => {
  it('reads our record and a bare pid, and rejects junk', () => {
    expect(parsePidFile('{"pid": 12, "startTime": "99", "script": "/a b/main.js"}')).toMatchObject({
      pid: 12,
      startTime: '99',
      script: '/a b/main.js',
    });
    expect(parsePidFile('345\n')).toEqual({ pid: 345 });
    expect(parsePidFile('not a pid')).toBeUndefined();
    expect(parsePidFile('{"pid": -1}')).toBeUndefined();
    expect(parsePidFile('null')).toBeUndefined();
  });
});

describe('matchesRecord', () => {
  it('accepts only the recorded daemon: same start time and a command line running `up` of our script', () => {
    const script = '/opt/my app/dist/cli/main.js';
    const info = { alive: true, commandLine: `/usr/bin/node ${script} up --hub http://h`, startTime: '100' };
    expect(matchesRecord({ pid: 1, startTime: '100', script }, info)).toBe(true);
    expect(matchesRecord({ pid: 1, startTime: '101', script }, info)).toBe(false); // pid reused
    expect(matchesRecord({ pid: 1, startTime: '100', script: '/other/main.js' }, info)).toBe(false);
    expect(matchesRecord({ pid: 1, startTime: '100', script }, { ...info, commandLine: 'sleep 30' })).toBe(
      false,
    );
    expect(matchesRecord({ pid: 1, startTime: '100', script }, { ...info, commandLine: '' })).toBe(false); // zombie
    expect(matchesRecord({ pid: 1, startTime: '100', script }, { alive: false })).toBe(false);
  });

  it('does not take an unrelated live process for the daemon', async () => {
    const sleeper = spawn('sleep', ['30'], { stdio: 'ignore' });
    children.push(sleeper);
    await new Promise((r) => sleeper.once('spawn', r));
    const pid = sleeper.pid!;
    expect(processInfo(pid).alive).toBe(true);
    const d = mkdtempSync(join(tmpdir(), 'pc pid '));
    dirs.push(d);
    const file = join(d, 'daemon.pid');
    writeFileSync(file, String(pid));
    expect(readPidFile(file).state).toBe('stale');
    writeFileSync(file, JSON.stringify({ pid, startTime: processInfo(pid).startTime }));
    expect(readPidFile(file).state).toBe('stale');
    expect(readPidFile(join(d, 'missing.pid')).state).toBe('none');
  });
});
