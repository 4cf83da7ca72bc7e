import { spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { quoteSystemdWord, renderSystemdUnit, SystemdService } from './systemd.js';
import type { ExecResult } from './exec.js';

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

/** A folder whose path has spaces (and a %), holding a real node binary link and a main.js. */
function installationWithSpaces(): { root: string; node: string; script: string; log: string } {
  const root = mkdtempSync(join(tmpdir(), 'pc unit 100% '));
  dirs.push(root);
  mkdirSync(join(root, 'node bin'));
  mkdirSync(join(root, 'my app', 'dist', 'cli'), { recursive: true });
  const node = join(root, 'node bin', 'node');
  symlinkSync(process.execPath, node);
  const script = join(root, 'my app', 'dist', 'cli', 'main.js');
  writeFileSync(script, '');
  return { root, node, script, log: join(root, 'home dir', '.privateconnect', 'daemon.log') };
}

describe('quoteSystemdWord', () => {
  it('leaves safe words bare and quotes the rest', () => {
    expect(quoteSystemdWord('up')).toBe('up');
    expect(quoteSystemdWord('https://hub.example.com:8787')).toBe('https://hub.example.com:8787');
    expect(quoteSystemdWord('/a b/c')).toBe('"/a b/c"');
    expect(quoteSystemdWord('a"b\\c')).toBe('"a\\"b\\\\c"');
  });

  it('doubles specifiers and variables', () => {
    expect(quoteSystemdWord('/x/100%')).toBe('/x/100%%');
    expect(quoteSystemdWord('/x/$HOME')).toBe('/x/$$HOME');
  });
});

describe('renderSystemdUnit', () => {
  it('renders the seed unit with absolute, quoted paths', () => {
    const unit = renderSystemdUnit({
      command: {
        node: '/opt/my node/bin/node',
        args: ['/opt/my app/dist/cli/main.js', 'up', '--hub', 'https://hub.example.com'],
      },
      logPath: '/home/al ex/.privateconnect/daemon.log',
    });
    expect(unit).toContain(
      '[Unit]\nDescription=Private Connect Agent\nAfter=network-online.target\nWants=network-online.target\n',
    );
    expect(unit).toContain(
      'ExecStart="/opt/my node/bin/node" "/opt/my app/dist/cli/main.js" up --hub https://hub.example.com\n',
    );
    expect(unit).toContain('Restart=always\nRestartSec=10\n');
    expect(unit).toContain('StandardOutput=append:/home/al ex/.privateconnect/daemon.log\n');
    expect(unit).toContain('StandardError=append:/home/al ex/.privateconnect/daemon.log\n');
    expect(unit).toContain(
      'Environment=CONNECT_DAEMON=1 "PATH=/opt/my node/bin:/usr/local/bin:/usr/bin:/bin"\n',
    );
    expect(unit).toContain('[Install]\nWantedBy=default.target\n');
  });

  it('passes systemd-analyze verify for an installation path with spaces', (ctx) => {
    const probe = spawnSync('systemd-analyze', ['--version'], { encoding: 'utf8' });
    if (probe.error) {
      console.log(`skipped: systemd-analyze is not installed (${probe.error.message})`);
      return ctx.skip();
    }
    const inst = installationWithSpaces();
    const unitFile = join(inst.root, 'private-connect.service');
    writeFileSync(
      unitFile,
      renderSystemdUnit({
        command: { node: inst.node, args: [inst.script, 'up', '--hub', 'http://127.0.0.1:8787'] },
        logPath: inst.log,
      }),
    );
    const r = spawnSync('systemd-analyze', ['verify', unitFile], { encoding: 'utf8' });
    const out = `${r.stdout}${r.stderr}`;
    if (
      /Failed to (initialize manager|lookup RuntimeDirectory)|Operation not permitted|Permission denied/.test(
        out,
      )
    ) {
      console.log(`skipped: systemd-analyze cannot run in this container: ${out.trim()}`);
      return ctx.skip();
    }
    // verify exits 0 for some parse errors ("..., ignoring"), so any remark about the unit is a failure.
    expect(out.split('\n').filter((l) => l.includes('private-connect.service'))).toEqual([]);
    expect(r.status).toBe(0);

    // The check has teeth: the same unit with the executable left unquoted is rejected.
    const bad = join(inst.root, 'bad.service');
    writeFileSync(bad, readFileSync(unitFile, 'utf8').replace(/^ExecStart="([^"]*)"/m, 'ExecStart=$1'));
    const r2 = spawnSync('systemd-analyze', ['verify', bad], { encoding: 'utf8' });
    expect(`${r2.stdout}${r2.stderr}`).toMatch(/not executable/);
  });
});

describe('SystemdService', () => {
  const fake = (
    answers: Record<string, Partial<ExecResult>>,
  ): { calls: string[][]; run: (c: string, a: string[]) => ExecResult } => {
    const calls: string[][] = [];
    return {
      calls,
      run: (cmd, args) => {
        calls.push([cmd, ...args]);
        const a = answers[[cmd, ...args].join(' ')] ?? {};
        return { code: 0, stdout: '', stderr: '', ...a };
      },
    };
  };

  it('says plainly when no user manager runs', () => {
    const f = fake({ 'systemctl --user is-system-running': { code: 1, stdout: 'offline\n' } });
    expect(new SystemdService(f.run, '/nonexistent').unavailableReason()).toMatch(
      /no systemd user manager is running/,
    );
    const missing = fake({
      'systemctl --user is-system-running': { code: null, error: 'spawnSync systemctl ENOENT' },
    });
    expect(new SystemdService(missing.run, '/nonexistent').unavailableReason()).toMatch(/not installed/);
    const degraded = fake({ 'systemctl --user is-system-running': { code: 1, stdout: 'degraded\n' } });
    expect(new SystemdService(degraded.run, '/nonexistent').unavailableReason()).toBeUndefined();
  });

  it('installs: writes the unit, reloads, enables, starts, tries lingering; uninstall reverses it', () => {
    const root = mkdtempSync(join(tmpdir(), 'pc systemd '));
    dirs.push(root);
    const unitPath = join(root, 'systemd', 'user', 'private-connect.service');
    const f = fake({
      'systemctl --user is-system-running': { stdout: 'running\n' },
      'loginctl enable-linger': { code: 1, stderr: 'Access denied\n' },
    });
    const service = new SystemdService(f.run, unitPath);
    const result = service.install('[Unit]\n');
    expect(readFileSync(unitPath, 'utf8')).toBe('[Unit]\n');
    expect(result.lingerWarning).toBe('Access denied');
    expect(f.calls.map((c) => c.join(' '))).toEqual([
      'systemctl --user daemon-reload',
      'systemctl --user enable private-connect.service',
      'systemctl --user restart private-connect.service',
      'loginctl enable-linger',
    ]);
    f.calls.length = 0;
    service.uninstall();
    expect(existsSync(unitPath)).toBe(false);
    expect(f.calls.map((c) => c.join(' '))).toContain(
      'systemctl --user disable --now private-connect.service',
    );
  });

  it('reads the main pid', () => {
    const f = fake({
      'systemctl --user show --property=MainPID --value private-connect.service': { stdout: '4242\n' },
    });
    expect(new SystemdService(f.run, '/x').pid()).toBe(4242);
    const g = fake({
      'systemctl --user show --property=MainPID --value private-connect.service': { stdout: '0\n' },
    });
    expect(new SystemdService(g.run, '/x').pid()).toBeUndefined();
  });
});
