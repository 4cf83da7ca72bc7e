import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openLogForAppend, rotateLogIfNeeded, startLogRotation, tailLines } from './log-file.js';

const dirs: string[] = [];
const dir = (): string => {
  const d = mkdtempSync(join(tmpdir(), 'pc log '));
  dirs.push(d);
  return d;
};
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('rotateLogIfNeeded', () => {
  it('leaves a small log alone and a missing one too', () => {
    const d = dir();
    const log = join(d, 'daemon.log');
    expect(rotateLogIfNeeded(log, { maxBytes: 10 })).toBe(false);
    writeFileSync(log, 'short\n');
    expect(rotateLogIfNeeded(log, { maxBytes: 100 })).toBe(false);
    expect(readFileSync(log, 'utf8')).toBe('short\n');
  });

  it('shifts generations and keeps at most `keep` old files', () => {
    const d = dir();
    const log = join(d, 'daemon.log');
    for (const gen of ['a', 'b', 'c', 'd']) {
      writeFileSync(log, gen.repeat(20));
      expect(rotateLogIfNeeded(log, { maxBytes: 10, keep: 3 })).toBe(true);
      expect(statSync(log).size).toBe(0);
    }
    expect(readFileSync(`${log}.1`, 'utf8')).toBe('d'.repeat(20));
    expect(readFileSync(`${log}.2`, 'utf8')).toBe('c'.repeat(20));
    expect(readFileSync(`${log}.3`, 'utf8')).toBe('b'.repeat(20));
    expect(existsSync(`${log}.4`)).toBe(false);
  });

  it('works under a live writer holding an append-mode descriptor (copy-truncate)', async () => {
    const d = dir();
    const log = join(d, 'daemon.log');
    const fd = openLogForAppend(log);
    // A child writing to the log as the daemon does: stdout is the append-mode descriptor.
    const child = spawn(
      process.execPath,
      [
        '-e',
        "let i=0; const t=setInterval(()=>{process.stdout.write('line '+(i++)+' '+'x'.repeat(200)+'\\n'); if(i>=300) clearInterval(t)}, 2)",
      ],
      { stdio: ['ignore', fd, 'ignore'] },
    );
    closeSync(fd);
    for (let i = 0; i < 100 && statSync(log).size < 2000; i++) await sleep(20);
    expect(rotateLogIfNeeded(log, { maxBytes: 1000 })).toBe(true);
    await new Promise((r) => child.on('exit', r));
    const after = readFileSync(log, 'utf8');
    // New writes land at the start of the emptied file: no hole of NUL bytes where the old content was.
    expect(after.includes('\0')).toBe(false);
    expect(after).toMatch(/^line \d+ x+\n/);
    expect(after).toContain('line 299 ');
    expect(readFileSync(`${log}.1`, 'utf8')).toMatch(/^line 0 /);
  });

  it('rotates periodically from inside a process', async () => {
    const d = dir();
    const log = join(d, 'daemon.log');
    writeFileSync(log, '');
    const stop = startLogRotation(log, { maxBytes: 100, intervalMs: 20 });
    try {
      writeFileSync(log, 'z'.repeat(500));
      await sleep(120);
      expect(statSync(log).size).toBe(0);
      expect(statSync(`${log}.1`).size).toBe(500);
    } finally {
      stop();
    }
  });
});

describe('tailLines', () => {
  it('returns the last lines, without the trailing newline', () => {
    const d = dir();
    const log = join(d, 'daemon.log');
    writeFileSync(log, Array.from({ length: 120 }, (_, i) => `line ${i}`).join('\n') + '\n');
    const last = tailLines(log, 50);
    expect(last).toHaveLength(50);
    expect(last[0]).toBe('line 70');
    expect(last[49]).toBe('line 119');
    writeFileSync(log, 'one\ntwo');
    expect(tailLines(log, 50)).toEqual(['one', 'two']);
    writeFileSync(log, '');
    expect(tailLines(log, 50)).toEqual([]);
  });

  it('reads beyond the first chunk when lines are long', () => {
    const d = dir();
    const log = join(d, 'daemon.log');
    writeFileSync(log, Array.from({ length: 60 }, (_, i) => `${i} ${'y'.repeat(4000)}`).join('\n') + '\n');
    const last = tailLines(log, 50);
    expect(last).toHaveLength(50);
    expect(last[0]?.startsWith('10 ')).toBe(true);
  });
});
