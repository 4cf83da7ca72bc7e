import { ConnectError, ErrorCodes } from '../api/errors.js';

/** Longest piece of a rejected input quoted back in an error (a hub must never echo a megabyte to a peer). */
export const MAX_ECHOED_INPUT = 64;

/** A user's or peer's input as an error message quotes it: cut to MAX_ECHOED_INPUT characters. */
export function echoInput(value: unknown): string {
  const text = String(value);
  return text.length <= MAX_ECHOED_INPUT ? text : `${text.slice(0, MAX_ECHOED_INPUT - 1)}…`;
}

/** Parses a TCP port (1-65535) given on the command line or in a file. */
export function parsePort(value: string | number, what = 'port'): number {
  const text = String(value).trim();
  if (!/^\d+$/.test(text))
    throw new ConnectError(
      ErrorCodes.BAD_INPUT,
      `invalid ${what} '${echoInput(text)}': expected a number from 1 to 65535`,
    );
  const port = Number(text);
  if (port < 1 || port > 65535) {
    throw new ConnectError(
      ErrorCodes.BAD_INPUT,
      `invalid ${what} '${echoInput(text)}': expected a number from 1 to 65535`,
    );
  }
  return port;
}

/** Like parsePort but also accepts 0 (let the OS pick), for listeners. */
export function parseListenPort(value: string | number, what = 'port'): number {
  if (String(value).trim() === '0') return 0;
  return parsePort(value, what);
}

/** Parses `LOW-HIGH` into an inclusive port range. */
export function parsePortRange(value: string, what = 'port range'): { low: number; high: number } {
  const match = /^\s*(\d+)\s*-\s*(\d+)\s*$/.exec(value);
  if (!match)
    throw new ConnectError(
      ErrorCodes.BAD_INPUT,
      `invalid ${what} '${echoInput(value)}': expected LOW-HIGH, e.g. 3000-3010`,
    );
  const low = parsePort(match[1] ?? '', what);
  const high = parsePort(match[2] ?? '', what);
  if (low > high)
    throw new ConnectError(
      ErrorCodes.BAD_INPUT,
      `invalid ${what} '${echoInput(value)}': ${low} is greater than ${high}`,
    );
  return { low, high };
}

/** Splits `host:port` (IPv6 in brackets) or a bare port into its parts. */
export function parseHostPort(value: string, defaultHost = 'localhost'): { host: string; port: number } {
  const text = value.trim();
  if (/^\d+$/.test(text)) return { host: defaultHost, port: parsePort(text) };
  const bracketed = /^\[([^\]]+)\]:(\d+)$/.exec(text);
  if (bracketed) return { host: bracketed[1] ?? '', port: parsePort(bracketed[2] ?? '') };
  const idx = text.lastIndexOf(':');
  if (idx <= 0 || text.indexOf(':') !== idx) {
    throw new ConnectError(
      ErrorCodes.BAD_INPUT,
      `invalid target '${echoInput(value)}': expected host:port or a port number`,
    );
  }
  return { host: text.slice(0, idx), port: parsePort(text.slice(idx + 1)) };
}
