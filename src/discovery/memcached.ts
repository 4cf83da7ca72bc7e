import { ask } from './conversation.js';
import type { ClientFirstProber } from './probe.js';
import { printable } from './probe.js';

/** memcached text protocol: `version` is answered `VERSION x.y.z` and touches no data. */
export const memcachedProber: ClientFirstProber = {
  name: 'memcached',
  hintPorts: [11211],
  async probe(target, deadline) {
    const reply = await ask(target, 'version\r\n', (data) => data.includes('\r\n'), deadline);
    if (!reply) return { match: null };
    const match = /^VERSION (\S+)\r\n/.exec(reply.data.toString('latin1'));
    if (!match) return { match: null, reply: reply.data };
    return { match: { type: 'memcached', details: printable(`memcached ${match[1]}`) } };
  },
};
