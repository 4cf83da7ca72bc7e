import { ask } from './conversation.js';
import type { ClientFirstProber } from './probe.js';
import { printable } from './probe.js';

/**
 * AMQP: the client opens with the protocol header `AMQP 0 0 9 1`. A 0-9-1 broker answers with a Connection.Start
 * method frame whose server-properties name the product; a broker of another version answers with its own
 * protocol header and closes. We close before authenticating, so no connection is ever opened.
 * https://www.rabbitmq.com/resources/specs/amqp0-9-1.pdf (§4.2.2, §4.2.3)
 */
export const PROTOCOL_HEADER = Buffer.from([0x41, 0x4d, 0x51, 0x50, 0, 0, 9, 1]);
const FRAME_END = 0xce;

function complete(data: Buffer): boolean {
  if (data.subarray(0, 4).toString('latin1') === 'AMQP') return data.length >= 8;
  return data.length >= 7 && data.length >= 7 + data.readUInt32BE(3) + 1;
}

export function parseAmqpReply(data: Buffer): string | null {
  if (data.length >= 8 && data.subarray(0, 4).toString('latin1') === 'AMQP') {
    // The broker proposes the version it speaks: 0 0 9 1, or 0 1 0 0 / 3 1 0 0 (AMQP 1.0, plain / SASL).
    const [id, major, minor, revision] = [data[4], data[5], data[6], data[7]];
    if (id === 0 && major === 0) return `AMQP 0-${minor}-${revision}`;
    return `AMQP ${major}.${minor}`;
  }
  if (data.length < 12 || data[0] !== 1 || data.readUInt16BE(1) !== 0) return null;
  const size = data.readUInt32BE(3);
  if (data.length < 8 + size || data[7 + size] !== FRAME_END) return null;
  // Connection.Start is class 10, method 10.
  if (data.readUInt16BE(7) !== 10 || data.readUInt16BE(9) !== 10) return null;
  const properties = readStringFields(data.subarray(13, 7 + size));
  const product = [properties.get('product'), properties.get('version')].filter(Boolean).join(' ');
  return printable(product || `AMQP 0-${data[11]}-${data[12]}`);
}

/** The long-string entries of an AMQP field table (size-prefixed); other entries are skipped by their size. */
function readStringFields(data: Buffer): Map<string, string> {
  const fields = new Map<string, string>();
  if (data.length < 4) return fields;
  const end = Math.min(data.length, 4 + data.readUInt32BE(0));
  const fixed: Record<string, number> = {
    t: 1,
    b: 1,
    B: 1,
    s: 2,
    u: 2,
    I: 4,
    i: 4,
    f: 4,
    l: 8,
    d: 8,
    T: 8,
    D: 5,
    V: 0,
  };
  let at = 4;
  try {
    while (at < end) {
      const nameLength = data[at] ?? 0;
      const name = data.subarray(at + 1, at + 1 + nameLength).toString('utf8');
      at += 1 + nameLength;
      const type = String.fromCharCode(data[at] ?? 0);
      at += 1;
      const width = fixed[type];
      if (width !== undefined) {
        at += width;
      } else if ('SxAF'.includes(type)) {
        const length = data.readUInt32BE(at);
        if (type === 'S') fields.set(name, data.subarray(at + 4, at + 4 + length).toString('utf8'));
        at += 4 + length;
      } else {
        break; // unknown type: its size is unknown, stop rather than misread
      }
    }
  } catch {
    // a truncated table: keep what was read
  }
  return fields;
}

export const amqpProber: ClientFirstProber = {
  name: 'amqp',
  hintPorts: [5671, 5672],
  async probe(target, deadline) {
    const reply = await ask(target, PROTOCOL_HEADER, complete, deadline);
    if (!reply) return { match: null };
    const details = parseAmqpReply(reply.data);
    return details === null ? { match: null, reply: reply.data } : { match: { type: 'amqp', details } };
  },
};
