import type { GreetingParser } from './probe.js';
import { printable } from './probe.js';

/**
 * MySQL / MariaDB: the server speaks first with a packet (3-byte little-endian length, sequence id 0) holding
 * either an Initial Handshake (protocol version 10, then the NUL-terminated server version) or, when it refuses
 * the client (host not allowed, too many connections), an ERR packet (0xff, error code, message).
 * https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_connection_phase_packets_protocol_handshake_v10.html
 */
export const mysqlGreeting: GreetingParser = {
  name: 'mysql',
  parse(data) {
    if (data.length < 5) return null;
    const length = data.readUIntLE(0, 3);
    if (data[3] !== 0 || length < 2 || data.length < 4 + length) return null;
    const payload = data.subarray(4, 4 + length);
    if (payload[0] === 10) {
      const nul = payload.indexOf(0, 1);
      // After the version: connection id (4), auth data (8), filler (1) at least.
      if (nul < 2 || payload.length < nul + 14) return null;
      const version = payload.subarray(1, nul).toString('latin1');
      if (!/^[\x20-\x7e]+$/.test(version)) return null;
      return { type: 'mysql', details: describeVersion(version) };
    }
    if (payload[0] === 0xff && length >= 4) {
      const code = payload.readUInt16LE(1);
      // Connection-phase errors are in the server error range (1000-1999 classic, 2000+ client, 3000+ newer).
      if (code < 1000 || code > 5000) return null;
      return { type: 'mysql', details: printable(payload.subarray(3).toString('utf8')) };
    }
    return null;
  },
};

/** `5.5.5-10.11.6-MariaDB-0+deb12u1` → `MariaDB 10.11.6` (MariaDB prefixes 5.5.5- for old clients). */
export function describeVersion(version: string): string {
  const maria = /^(?:5\.5\.5-)?(\d+\.\d+\.\d+)-MariaDB/i.exec(version);
  if (maria) return `MariaDB ${maria[1]}`;
  return printable(`MySQL ${version}`);
}
