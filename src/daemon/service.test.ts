import { describe, expect, it } from 'vitest';
import { assertSupportedPlatform, systemServiceManager } from './service.js';

describe('platform support', () => {
  it('rejects Windows with a pointer to foreground mode', () => {
    expect(() => assertSupportedPlatform('win32')).toThrow(
      /not supported on win32; use foreground mode: connect up/,
    );
    expect(systemServiceManager('win32')).toBeUndefined();
  });

  it('uses systemd on Linux and launchd on macOS', () => {
    expect(() => assertSupportedPlatform('linux')).not.toThrow();
    expect(systemServiceManager('linux')?.kind).toBe('systemd');
    expect(systemServiceManager('darwin')?.kind).toBe('launchd');
  });
});
