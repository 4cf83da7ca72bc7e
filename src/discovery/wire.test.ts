import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PROTOCOL_HEADER, parseAmqpReply } from './amqp.js';
import { decodeBson, encodeBson } from './bson.js';
import { connectPacket } from './mqtt.js';
import { OP_MSG, describeHello, helloMessage, parseReply } from './mongodb.js';
import { SSL_REQUEST } from './postgres.js';

describe('BSON', () => {
  it('round-trips flat documents', () => {
    const value = fc.oneof(
      fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }),
      fc.string(),
      fc.boolean(),
      fc.double({ noNaN: true }),
    );
    const key = fc
      .string({ minLength: 1, maxLength: 8 })
      .filter((k) => !k.includes('\0') && k !== '__proto__');
    fc.assert(
      fc.property(fc.dictionary(key, value), (doc) => {
        const decoded = decodeBson(encodeBson(doc));
        expect(Object.keys(decoded)).toEqual(Object.keys(doc));
        for (const [k, v] of Object.entries(doc)) {
          if (typeof v === 'number') expect(Object.is(decoded[k], v) || decoded[k] === v).toBe(true);
          else expect(decoded[k]).toEqual(v);
        }
      }),
    );
  });

  it('never reads past its input on garbage', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
        try {
          decodeBson(Buffer.from(bytes));
        } catch (err) {
          expect(err).toBeInstanceOf(Error);
        }
      }),
    );
  });
});

describe('MongoDB OP_MSG', () => {
  it('sends hello to admin in a kind-0 section', () => {
    const message = helloMessage(42);
    expect(message.readInt32LE(0)).toBe(message.length);
    expect(message.readInt32LE(4)).toBe(42);
    expect(message.readInt32LE(12)).toBe(OP_MSG);
    expect(decodeBson(message, 21)).toEqual({ hello: 1, $db: 'admin' });
  });

  it('accepts only a reply to our request id', () => {
    const doc = encodeBson({ isWritablePrimary: true, maxWireVersion: 25, ok: 1 });
    const header = Buffer.alloc(21);
    header.writeInt32LE(21 + doc.length, 0);
    header.writeInt32LE(7, 8);
    header.writeInt32LE(OP_MSG, 12);
    const reply = Buffer.concat([header, doc]);
    expect(parseReply(reply, 8)).toBeNull();
    const parsed = parseReply(reply, 7);
    expect(parsed && describeHello(parsed)).toBe('MongoDB 8.0, primary');
  });
});

describe('AMQP', () => {
  it('reads product and version from Connection.Start', () => {
    const longstr = (name: string, value: string): Buffer => {
      const v = Buffer.from(value);
      const size = Buffer.alloc(4);
      size.writeUInt32BE(v.length);
      return Buffer.concat([Buffer.from([name.length]), Buffer.from(name), Buffer.from('S'), size, v]);
    };
    const flag = Buffer.concat([
      Buffer.from([7]),
      Buffer.from('cluster'),
      Buffer.from('t'),
      Buffer.from([1]),
    ]);
    const table = Buffer.concat([flag, longstr('product', 'RabbitMQ'), longstr('version', '3.13.1')]);
    const tableSize = Buffer.alloc(4);
    tableSize.writeUInt32BE(table.length);
    const payload = Buffer.concat([Buffer.from([0, 10, 0, 10, 0, 9]), tableSize, table]);
    const frameHead = Buffer.from([1, 0, 0, 0, 0, 0, 0]);
    frameHead.writeUInt32BE(payload.length, 3);
    expect(parseAmqpReply(Buffer.concat([frameHead, payload, Buffer.from([0xce])]))).toBe('RabbitMQ 3.13.1');
  });

  it('recognises a broker answering with another protocol header', () => {
    expect(parseAmqpReply(Buffer.from([0x41, 0x4d, 0x51, 0x50, 3, 1, 0, 0]))).toBe('AMQP 1.0');
    expect(parseAmqpReply(PROTOCOL_HEADER)).toBe('AMQP 0-9-1');
    expect(parseAmqpReply(Buffer.from('HTTP/1.1 400 Bad Request\r\n'))).toBeNull();
  });
});

describe('requests that must not change state', () => {
  it('PostgreSQL SSLRequest is the 8-byte magic', () => {
    expect([...SSL_REQUEST]).toEqual([0, 0, 0, 8, 4, 210, 22, 47]);
  });
  it('MQTT CONNECT asks for a clean session with no will, user or password', () => {
    const packet = connectPacket('pc-discover-1');
    expect(packet[0]).toBe(0x10);
    expect(packet[1]).toBe(packet.length - 2);
    expect(packet[9]).toBe(0x02); // connect flags: clean session only
  });
});
