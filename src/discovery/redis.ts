import { Conversation } from './conversation.js';
import type { ClientFirstProber } from './probe.js';
import { printable } from './probe.js';

// RESP arrays rather than inline commands: a complete, newline-terminated request that other servers reject at once.
const PING = '*1\r\n$4\r\nPING\r\n';
const INFO_SERVER = '*2\r\n$4\r\nINFO\r\n$6\r\nserver\r\n';

/** Errors only Redis (or a Redis-compatible server) sends to a PING from a client that may not run commands. */
const REDIS_REFUSALS = /^-(NOAUTH|DENIED|WRONGPASS|NOPERM|LOADING|MASTERDOWN)\b/;

const line = (data: Buffer): boolean => data.includes('\r\n');

/** A complete RESP bulk string (`$len\r\n...\r\n`) or a one-line reply. */
function bulkComplete(data: Buffer): boolean {
  const text = data.toString('latin1');
  const head = /^\$(-?\d+)\r\n/.exec(text);
  if (!head) return line(data);
  const length = Number(head[1]);
  return length < 0 || data.length >= head[0].length + length + 2;
}

/**
 * Redis: `PING` answered `+PONG`, or a refusal that only Redis words (auth required, protected mode). When PING
 * works, `INFO server` (read-only) gives the version.
 */
export const redisProber: ClientFirstProber = {
  name: 'redis',
  hintPorts: [6379, 6380, 16379],
  async probe(target, deadline) {
    const conversation = await Conversation.open(target, deadline);
    if (!conversation) return { match: null };
    try {
      conversation.write(PING);
      const reply = await conversation.until(line, deadline);
      const text = reply.data.toString('latin1');
      const refusal = REDIS_REFUSALS.exec(text);
      if (refusal) {
        return { match: { type: 'redis', details: refusal[1] === 'LOADING' ? 'loading' : 'auth required' } };
      }
      if (!text.startsWith('+PONG\r\n')) return { match: null, reply: reply.data };
      conversation.discard();
      conversation.write(INFO_SERVER);
      const info = (await conversation.until(bulkComplete, deadline)).data.toString('latin1');
      return { match: { type: 'redis', details: describeInfo(info) } };
    } finally {
      conversation.close();
    }
  },
};

/** `redis_version:7.0.15` → `Redis 7.0.15`; Valkey also reports its own version. */
export function describeInfo(info: string): string {
  const valkey = /^valkey_version:(\S+)/m.exec(info);
  if (valkey) return printable(`Valkey ${valkey[1]}`);
  const redis = /^redis_version:(\S+)/m.exec(info);
  return redis ? printable(`Redis ${redis[1]}`) : '';
}
