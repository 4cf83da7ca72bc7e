import { describe, expect, it } from 'vitest';
import { isAllowed, isLoopbackHost, parseTunnelAllow, tunnelAccess } from './tunnel-ports.js';

describe('tunnel-port access', () => {
  it('knows loopback hosts', () => {
    for (const host of ['127.0.0.1', '127.1.2.3', 'localhost', '::1', '[::1]', '::ffff:127.0.0.1']) {
      expect(isLoopbackHost(host), host).toBe(true);
    }
    for (const host of ['0.0.0.0', '::', '10.0.0.1', '128.0.0.1', 'example.com']) {
      expect(isLoopbackHost(host), host).toBe(false);
    }
  });

  it('matches CIDRs and bare addresses, IPv4-mapped peers as IPv4', () => {
    const allow = parseTunnelAllow(['10.0.0.0/8', '192.168.1.7', 'fd00::/8']);
    expect(isAllowed(allow, '10.20.30.40')).toBe(true);
    expect(isAllowed(allow, '::ffff:10.1.1.1')).toBe(true);
    expect(isAllowed(allow, '192.168.1.7')).toBe(true);
    expect(isAllowed(allow, '192.168.1.8')).toBe(false);
    expect(isAllowed(allow, 'fd12::1')).toBe(true);
    expect(isAllowed(allow, 'fe80::1')).toBe(false);
    expect(isAllowed(allow, '127.0.0.1')).toBe(false);
    expect(isAllowed(allow, undefined)).toBe(false);
  });

  it('refuses malformed entries with one line naming the entry', () => {
    for (const entry of [
      '10.0.0.0/33',
      'fd00::/129',
      '10.0.0/8',
      'host.example',
      '1.2.3.4/8/9',
      '1.2.3.4/x',
      '',
    ]) {
      expect(() => parseTunnelAllow([entry]), entry).toThrow(
        /--tunnel-allow: '.*' is not an address or CIDR/,
      );
    }
  });

  it('needs an allow list beyond loopback only', () => {
    expect(tunnelAccess('127.0.0.1', undefined)).toBeUndefined();
    expect(() => tunnelAccess('0.0.0.0', undefined)).toThrow(/--tunnel-allow/);
    expect(() => tunnelAccess('0.0.0.0', [])).toThrow(/--tunnel-allow/);
    expect(tunnelAccess('0.0.0.0', ['10.0.0.0/8'])).toBeDefined();
    expect(tunnelAccess('127.0.0.1', ['127.0.0.2/32'])).toBeDefined();
  });
});
