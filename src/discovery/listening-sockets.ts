import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';

const LISTEN = '0A';

/** Loopback and wildcard addresses as /proc/net/tcp{,6} spells them (hex, host byte order per 32-bit word). */
function isLoopbackOrWildcard(hex: string): boolean {
  if (hex.length === 8) return hex === '00000000' || hex.endsWith('7F'); // 0.0.0.0 or 127.x.x.x
  return (
    hex === '00000000000000000000000000000000' || // ::
    hex === '00000000000000000000000001000000' || // ::1
    // ::ffff:127.x.x.x (v4-mapped loopback)
    (hex.startsWith('0000000000000000FFFF0000') && hex.endsWith('7F'))
  );
}

function parse(file: string): number[] {
  const ports: number[] = [];
  for (const line of readFileSync(file, 'utf8').split('\n').slice(1)) {
    const fields = line.trim().split(/\s+/);
    const local = fields[1];
    if (!local || fields[3] !== LISTEN) continue;
    const [address = '', port = ''] = local.split(':');
    if (isLoopbackOrWildcard(address)) ports.push(parseInt(port, 16));
  }
  return ports;
}

/**
 * The TCP ports something listens on for loopback, read from the kernel's socket table (Linux). A full-range
 * scan of localhost then only has to connect to these instead of 131,070 endpoints: nmap-like speed without
 * raw sockets. Undefined where the table cannot be read (other platforms), so callers fall back to a connect scan.
 * Callers still confirm each port with a real connection, so a stale entry never shows up as a service.
 */
export function loopbackListeningPorts(): Set<number> | undefined {
  if (process.platform !== 'linux') return undefined;
  try {
    const ports = new Set(parse('/proc/net/tcp'));
    try {
      for (const p of parse('/proc/net/tcp6')) ports.add(p);
    } catch {
      // IPv6 disabled: the IPv4 table is the whole answer
    }
    return ports;
  } catch {
    return undefined;
  }
}

export function allLoopback(addresses: readonly string[]): boolean {
  return addresses.every((a) => (isIP(a) === 4 && a.startsWith('127.')) || a === '::1');
}
