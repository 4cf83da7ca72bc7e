/**
 * Just enough BSON (https://bsonspec.org/spec.html) to send a `hello` command and read its answer. The decoder
 * handles every type a `hello` reply contains and refuses anything else rather than guessing at its size.
 */
export type BsonValue =
  number | bigint | string | boolean | null | Date | Buffer | BsonDocument | BsonValue[];
export interface BsonDocument {
  [key: string]: BsonValue;
}

/** Encodes a flat document of int32 / double / string / boolean values (all a command needs). */
export function encodeBson(doc: Record<string, number | string | boolean>): Buffer {
  const parts: Buffer[] = [];
  for (const [key, value] of Object.entries(doc)) {
    const name = Buffer.from(key + '\0', 'utf8');
    if (typeof value === 'string') {
      const text = Buffer.from(value + '\0', 'utf8');
      const size = Buffer.alloc(4);
      size.writeInt32LE(text.length);
      parts.push(Buffer.from([0x02]), name, size, text);
    } else if (typeof value === 'boolean') {
      parts.push(Buffer.from([0x08]), name, Buffer.from([value ? 1 : 0]));
    } else if (Number.isInteger(value) && value >= -(2 ** 31) && value < 2 ** 31) {
      const int = Buffer.alloc(4);
      int.writeInt32LE(value);
      parts.push(Buffer.from([0x10]), name, int);
    } else {
      const double = Buffer.alloc(8);
      double.writeDoubleLE(value);
      parts.push(Buffer.from([0x01]), name, double);
    }
  }
  const body = Buffer.concat(parts);
  const head = Buffer.alloc(4);
  head.writeInt32LE(body.length + 5);
  return Buffer.concat([head, body, Buffer.from([0])]);
}

/** Decodes one document starting at `offset`; throws on malformed or unsupported input. */
export function decodeBson(data: Buffer, offset = 0): BsonDocument {
  return decodeDocument(data, offset, false) as BsonDocument;
}

function decodeDocument(data: Buffer, offset: number, array: boolean): BsonDocument | BsonValue[] {
  const size = data.readInt32LE(offset);
  const end = offset + size;
  if (size < 5 || end > data.length || data[end - 1] !== 0) throw new Error('bad BSON document size');
  const doc: BsonDocument = {};
  const list: BsonValue[] = [];
  let at = offset + 4;
  while (at < end - 1) {
    const type = data[at] ?? 0;
    const nameEnd = data.indexOf(0, at + 1);
    if (nameEnd < 0 || nameEnd >= end) throw new Error('bad BSON element name');
    const name = data.subarray(at + 1, nameEnd).toString('utf8');
    at = nameEnd + 1;
    let value: BsonValue;
    switch (type) {
      case 0x01:
        value = data.readDoubleLE(at);
        at += 8;
        break;
      case 0x02: {
        const length = data.readInt32LE(at);
        if (length < 1 || at + 4 + length > end) throw new Error('bad BSON string');
        value = data.subarray(at + 4, at + 4 + length - 1).toString('utf8');
        at += 4 + length;
        break;
      }
      case 0x03:
      case 0x04:
        value = decodeDocument(data, at, type === 0x04);
        at += data.readInt32LE(at);
        break;
      case 0x05: {
        const length = data.readInt32LE(at);
        value = data.subarray(at + 5, at + 5 + length);
        at += 5 + length;
        break;
      }
      case 0x07:
        value = data.subarray(at, at + 12);
        at += 12;
        break;
      case 0x08:
        value = data[at] === 1;
        at += 1;
        break;
      case 0x09:
        value = new Date(Number(data.readBigInt64LE(at)));
        at += 8;
        break;
      case 0x0a:
        value = null;
        break;
      case 0x10:
        value = data.readInt32LE(at);
        at += 4;
        break;
      case 0x11:
      case 0x12:
        value = data.readBigInt64LE(at);
        at += 8;
        break;
      default:
        throw new Error(`unsupported BSON type 0x${type.toString(16)}`);
    }
    if (at > end - 1) throw new Error('BSON element overruns its document');
    if (array) list.push(value);
    else doc[name] = value;
  }
  return array ? list : doc;
}
