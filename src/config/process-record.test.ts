import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ProcessRecordFile, processRecordOf, stringField, type ProcessRecord } from './process-record.js';

const dir = mkdtempSync(join(tmpdir(), 'pc record '));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Labelled extends ProcessRecord {
  label: string;
}

/** The script this test process runs, so that its record names it (a test runner is not our CLI). */
const ourScript = process.argv[1];

const file = (name: string): ProcessRecordFile<Labelled> =>
  new ProcessRecordFile<Labelled>({
    path: join(dir, `${name}.json`),
    pidPath: join(dir, `${name}.pid`),
    fields: (v) => ({ label: stringField(v.label) ?? '' }),
  });

describe('ProcessRecordFile', () => {
  it('writes the record and the bare pid with mode 0600, and reads this process back as running', () => {
    const f = file('self');
    f.write({ ...processRecordOf(), script: ourScript, label: 'me' });
    expect(statSync(join(dir, 'self.json')).mode & 0o777).toBe(0o600);
    expect(statSync(join(dir, 'self.pid')).mode & 0o777).toBe(0o600);
    expect(readFileSync(join(dir, 'self.pid'), 'utf8')).toBe(`${process.pid}\n`);
    expect(f.read()).toMatchObject({ state: 'running', record: { pid: process.pid, label: 'me' } });
  });

  it('falls back to the pid file when the JSON is torn or names another pid (which alone is not our CLI here)', () => {
    const f = file('torn');
    f.write({ ...processRecordOf(), script: ourScript, label: 'me' });
    writeFileSync(join(dir, 'torn.json'), '{"pid": ');
    expect(f.read()).toMatchObject({ state: 'stale', record: { pid: process.pid, label: '' } });
    writeFileSync(join(dir, 'torn.json'), JSON.stringify({ pid: 1, label: 'init' }));
    expect(f.read()).toMatchObject({ state: 'stale', record: { pid: process.pid, label: '' } });
  });

  it('says none without a file and stale for junk; removes only a record that still names the pid', () => {
    const f = file('other');
    expect(f.read()).toEqual({ state: 'none' });
    writeFileSync(join(dir, 'other.pid'), 'junk');
    expect(f.read()).toEqual({ state: 'stale' });
    f.write({ pid: process.pid, label: 'me' });
    f.remove(process.pid + 1);
    expect(existsSync(join(dir, 'other.pid'))).toBe(true);
    f.remove(process.pid);
    expect(existsSync(join(dir, 'other.pid'))).toBe(false);
    expect(existsSync(join(dir, 'other.json'))).toBe(false);
  });
});
