import { randomInt } from 'node:crypto';
import { decodeBson, encodeBson, type BsonDocument } from './bson.js';
import { ask } from './conversation.js';
import type { ClientFirstProber } from './probe.js';

/**
 * MongoDB: a `hello` command in an OP_MSG (opCode 2013) — the handshake every driver sends first; it reads
 * server state and writes nothing. Any well-formed OP_MSG reply to our request id proves MongoDB, even
 * `{ok: 0}` from a server too old to know `hello`.
 * https://www.mongodb.com/docs/manual/reference/mongodb-wire-protocol/#op_msg
 */
export const OP_MSG = 2013;

export function helloMessage(requestId: number): Buffer {
  const doc = encodeBson({ hello: 1, $db: 'admin' });
  const header = Buffer.alloc(16 + 4 + 1);
  header.writeInt32LE(header.length + doc.length, 0);
  header.writeInt32LE(requestId, 4);
  header.writeInt32LE(0, 8); // responseTo
  header.writeInt32LE(OP_MSG, 12);
  header.writeUInt32LE(0, 16); // flagBits
  header.writeUInt8(0, 20); // section kind 0: the command body
  return Buffer.concat([header, doc]);
}

/** The body of an OP_MSG reply to `requestId`, or null. */
export function parseReply(data: Buffer, requestId: number): BsonDocument | null {
  if (data.length < 21) return null;
  const length = data.readInt32LE(0);
  if (length < 21 || data.length < length) return null;
  if (data.readInt32LE(8) !== requestId || data.readInt32LE(12) !== OP_MSG) return null;
  const flags = data.readUInt32LE(16);
  // Bit 0 (checksumPresent) appends 4 bytes after the sections; section kind 0 must come first here.
  if (data[20] !== 0) return null;
  try {
    const doc = decodeBson(data.subarray(0, flags & 1 ? length - 4 : length), 21);
    return 'ok' in doc ? doc : null;
  } catch {
    return null;
  }
}

const WIRE_TO_RELEASE: Record<number, string> = {
  6: '3.6',
  7: '4.0',
  8: '4.2',
  9: '4.4',
  13: '5.0',
  17: '6.0',
  21: '7.0',
  25: '8.0',
};

export function describeHello(doc: BsonDocument): string {
  const parts: string[] = [];
  const wire = doc.maxWireVersion;
  if (typeof wire === 'number') {
    const release = WIRE_TO_RELEASE[wire];
    parts.push(release ? `MongoDB ${release}` : `wire version ${wire}`);
  }
  if (doc.msg === 'isdbgrid') parts.push('mongos');
  else if (doc.isWritablePrimary === true) parts.push('primary');
  else if (doc.secondary === true) parts.push('secondary');
  if (typeof doc.setName === 'string') parts.push(`replica set ${doc.setName}`);
  return parts.join(', ');
}

export const mongodbProber: ClientFirstProber = {
  name: 'mongodb',
  hintPorts: [27017, 27018, 27019],
  async probe(target, deadline) {
    const requestId = randomInt(1, 2 ** 31 - 1);
    const complete = (data: Buffer): boolean => data.length >= 4 && data.length >= data.readInt32LE(0);
    const reply = await ask(target, helloMessage(requestId), complete, deadline);
    if (!reply) return { match: null };
    const doc = parseReply(reply.data, requestId);
    if (!doc) return { match: null, reply: reply.data };
    return { match: { type: 'mongodb', details: describeHello(doc) } };
  },
};
