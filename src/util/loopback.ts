import { isIP } from 'node:net';

/**
 * Whether a listen address stays on this machine: `localhost`, 127.0.0.0/8, `::1` (also bracketed, or v4-mapped).
 * Anything else (0.0.0.0, ::, a LAN address, a host name) may be reachable from the network.
 */
export function isLoopbackHost(host: string): boolean {
  const h = host
    .trim()
    .toLowerCase()
    .replace(/^\[|\]$/g, '');
  if (h === 'localhost') return true;
  const v4 = h.startsWith('::ffff:') ? h.slice('::ffff:'.length) : h;
  if (isIP(v4) === 4) return v4.startsWith('127.');
  return isIP(h) === 6 && /^(0{0,4}:){1,7}0{0,3}1$|^::1$/.test(h);
}
