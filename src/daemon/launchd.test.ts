import { parse as parsePlist } from 'plist';
import { describe, expect, it } from 'vitest';
import { LaunchdService, renderLaunchdPlist } from './launchd.js';
import type { ExecResult } from './exec.js';

describe('renderLaunchdPlist', () => {
  it('renders the seed plist with each path one argument, spaces and XML characters intact', () => {
    const xml = renderLaunchdPlist({
      command: {
        node: '/Users/Al Ex/.nvm/versions/node/v20/bin/node',
        args: ['/Users/Al Ex/My Apps & <Tools>/dist/cli/main.js', 'up', '--hub', 'https://hub.example.com'],
      },
      logPath: '/Users/Al Ex/.privateconnect/daemon.log',
    });
    const parsed = parsePlist(xml) as Record<string, unknown>;
    expect(parsed).toEqual({
      Label: 'co.privateconnect.agent',
      ProgramArguments: [
        '/Users/Al Ex/.nvm/versions/node/v20/bin/node',
        '/Users/Al Ex/My Apps & <Tools>/dist/cli/main.js',
        'up',
        '--hub',
        'https://hub.example.com',
      ],
      EnvironmentVariables: {
        CONNECT_DAEMON: '1',
        PATH: '/Users/Al Ex/.nvm/versions/node/v20/bin:/usr/local/bin:/usr/bin:/bin',
      },
      RunAtLoad: true,
      KeepAlive: { SuccessfulExit: false, NetworkState: true },
      StandardOutPath: '/Users/Al Ex/.privateconnect/daemon.log',
      StandardErrorPath: '/Users/Al Ex/.privateconnect/daemon.log',
      ThrottleInterval: 10,
    });
    expect(xml.startsWith('<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE plist PUBLIC')).toBe(true);
  });
});

describe('LaunchdService', () => {
  it('reads the pid from launchctl list', () => {
    const run = (): ExecResult => ({
      code: 0,
      stdout: '{\n\t"Label" = "co.privateconnect.agent";\n\t"PID" = 321;\n};\n',
      stderr: '',
    });
    expect(new LaunchdService(run, '/x').pid()).toBe(321);
    const none = (): ExecResult => ({
      code: 0,
      stdout: '{\n\t"Label" = "co.privateconnect.agent";\n};\n',
      stderr: '',
    });
    expect(new LaunchdService(none, '/x').pid()).toBeUndefined();
  });
});
