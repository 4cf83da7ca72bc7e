import type { GreetingParser } from './probe.js';
import { printable } from './probe.js';

/**
 * SSH (RFC 4253 §4.2): the server sends `SSH-protoversion-softwareversion SP comments CR LF`, possibly after
 * other lines of text, before anything else.
 */
export const sshGreeting: GreetingParser = {
  name: 'ssh',
  parse(data) {
    const text = data.toString('latin1');
    for (const line of text.split('\n').slice(0, -1)) {
      const match = /^SSH-(\d+\.\d+)-(\S+)(?: (.*))?\r?$/.exec(line);
      if (match) return { type: 'ssh', details: printable([match[2], match[3]].filter(Boolean).join(' ')) };
    }
    return null;
  },
};
