import type { GreetingParser } from './probe.js';
import { printable } from './probe.js';

/** NATS: the server greets every client with `INFO {json}\r\n` (https://docs.nats.io/reference/reference-protocols/nats-protocol). */
export const natsGreeting: GreetingParser = {
  name: 'nats',
  parse(data) {
    const text = data.toString('utf8');
    const end = text.indexOf('\r\n');
    if (!text.startsWith('INFO ') || end < 0) return null;
    let info: unknown;
    try {
      info = JSON.parse(text.slice(5, end));
    } catch {
      return null;
    }
    if (typeof info !== 'object' || info === null || !('server_id' in info)) return null;
    const fields = info as Record<string, unknown>;
    const parts: string[] = [];
    if (typeof fields.version === 'string') parts.push(`nats-server ${fields.version}`);
    if (fields.auth_required === true) parts.push('auth required');
    if (fields.tls_required === true) parts.push('TLS required');
    return { type: 'nats', details: printable(parts.join(', ')) };
  },
};
