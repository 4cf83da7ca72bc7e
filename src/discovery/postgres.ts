import { ask } from './conversation.js';
import type { ClientFirstProber } from './probe.js';

/**
 * PostgreSQL: an SSLRequest (length 8, code 80877103) is answered by exactly one byte, `S` (TLS available) or
 * `N` (not available). It opens no session and runs no query.
 * https://www.postgresql.org/docs/current/protocol-flow.html#PROTOCOL-FLOW-SSL
 */
export const SSL_REQUEST = Buffer.from([0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f]);

export const postgresProber: ClientFirstProber = {
  name: 'postgres',
  hintPorts: [5432, 5433, 5434, 6432],
  async probe(target, deadline) {
    const reply = await ask(target, SSL_REQUEST, (data) => data.length > 0, deadline);
    if (!reply) return { match: null };
    const answer = reply.data.length === 1 ? String.fromCharCode(reply.data[0] ?? 0) : '';
    if (answer === 'S') return { match: { type: 'postgres', details: 'TLS available' } };
    if (answer === 'N') return { match: { type: 'postgres', details: '' } };
    return { match: null, reply: reply.data };
  },
};
