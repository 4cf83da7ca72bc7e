import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { ProcessRecordFile, processRecordOf, type ProcessRecord } from './process-record.js';
import { stopProcess } from './stop-process.js';

const dir = mkdtempSync(join(tmpdir(), 'pc stop '));
const children: ChildProcess[] = [];
afterEach(() => vi.restoreAllMocks());
afterAll(() => {
  children.forEach((c) => c.kill('SIGKILL'));
  rmSync(dir, { recursive: true, force: true });
});

/** A child running a script of its own, so that the record can name the script its command line shows. */
async function child(name: string, body: string): Promise<{ proc: ChildProcess; script: string }> {
  const script = join(dir, `${name}.js`);
  writeFileSync(script, `${body}\nsetInterval(() => {}, 1000);\nprocess.stdout.write('ready\\n');\n`);
  const proc = spawn(process.execPath, [script], { stdio: ['ignore', 'pipe', 'ignore'] });
  children.push(proc);
  // Wait until its signal handlers are in place.
  await new Promise<void>((resolve) => proc.stdout.once('data', () => resolve()));
  return { proc, script };
}

function recordFile(name: string): ProcessRecordFile<ProcessRecord> {
  return new ProcessRecordFile<ProcessRecord>({ path: join(dir, `${name}.json`), fields: () => ({}) });
}

const exited = (proc: ChildProcess): Promise<NodeJS.Signals | null> =>
  proc.exitCode !== null || proc.signalCode !== null
    ? Promise.resolve(proc.signalCode)
    : new Promise((resolve) => proc.once('exit', (_code, signal) => resolve(signal)));

describe('stopProcess', () => {
  it('SIGKILLs a process that ignores SIGTERM once the grace is over, and removes its record', async () => {
    const { proc, script } = await child('stubborn', "process.on('SIGTERM', () => {});");
    const file = recordFile('stubborn');
    const record = { ...processRecordOf(proc.pid), script };
    file.write(record);
    expect(file.read().state).toBe('running');
    const began = Date.now();
    const result = await stopProcess(file, record, { graceMs: 400 });
    expect(Date.now() - began).toBeGreaterThanOrEqual(400);
    expect(result).toEqual({ signalled: true, forced: true });
    expect(await exited(proc)).toBe('SIGKILL');
    expect(existsSync(file.path)).toBe(false);
  });

  it('does not SIGKILL a process that exits on SIGTERM', async () => {
    const { proc, script } = await child('polite', '');
    const file = recordFile('polite');
    const record = { ...processRecordOf(proc.pid), script };
    file.write(record);
    const kill = vi.spyOn(process, 'kill');
    const result = await stopProcess(file, record, { graceMs: 5000 });
    expect(result).toEqual({ signalled: true, forced: false });
    expect(await exited(proc)).toBe('SIGTERM');
    expect(kill.mock.calls.filter(([, sig]) => sig === 'SIGKILL')).toEqual([]);
    expect(existsSync(file.path)).toBe(false);
  });

  it('never signals the pid of a record whose process is dead or is another process now', async () => {
    const { proc: dead, script } = await child('dead', '');
    const deadRecord = { ...processRecordOf(dead.pid), script };
    dead.kill('SIGKILL');
    await exited(dead);

    // A live process whose pid the record names, but started at another time: a reused pid.
    const { proc: other, script: otherScript } = await child('other', "process.on('SIGTERM', () => {});");
    const reused = { pid: other.pid!, startTime: '1', script: otherScript };

    const kill = vi.spyOn(process, 'kill');
    for (const [name, record] of [
      ['dead', deadRecord],
      ['reused', reused],
    ] as const) {
      const file = recordFile(name);
      file.write(record);
      expect(file.read().state).toBe('stale');
      expect(await stopProcess(file, record, { graceMs: 200 })).toEqual({ signalled: false, forced: false });
      expect(existsSync(file.path)).toBe(false);
    }
    const signalled = kill.mock.calls.filter(([, sig]) => sig !== 0 && sig !== undefined);
    expect(signalled).toEqual([]);
    expect(other.exitCode).toBeNull();
    expect(other.signalCode).toBeNull();
  });
});
