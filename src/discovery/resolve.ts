import { lookup } from 'node:dns/promises';
import net from 'node:net';
import { ConnectError, ErrorCodes, messageOf } from '../api/errors.js';

/**
 * The addresses to scan for a host. `localhost` means both loopbacks whatever /etc/hosts says: a dev server
 * bound to ::1 only (Vite on some systems) is as much "on localhost" as one on 127.0.0.1. Other names resolve
 * through the system resolver; the first IPv4 and the first IPv6 address are scanned.
 */
export async function resolveHost(host: string): Promise<string[]> {
  const name = host.trim();
  if (name === '') throw new ConnectError(ErrorCodes.BAD_INPUT, 'invalid --host: empty');
  if (name.toLowerCase() === 'localhost') return ['127.0.0.1', '::1'];
  const literal = name.replace(/^\[(.*)\]$/, '$1');
  if (net.isIP(literal)) return [literal];
  let found: { address: string; family: number }[];
  try {
    found = await lookup(name, { all: true });
  } catch (err) {
    throw new ConnectError(ErrorCodes.BAD_INPUT, `cannot resolve host '${name}': ${messageOf(err)}`);
  }
  const v4 = found.find((a) => a.family === 4)?.address;
  const v6 = found.find((a) => a.family === 6)?.address;
  const addresses = [v4, v6].filter((a): a is string => a !== undefined);
  if (addresses.length === 0) throw new ConnectError(ErrorCodes.BAD_INPUT, `cannot resolve host '${name}'`);
  return addresses;
}
