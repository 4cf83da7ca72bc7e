import { randomBytes } from 'node:crypto';
import { Conversation } from './conversation.js';
import type { ClientFirstProber } from './probe.js';

/**
 * MQTT: a CONNECT (v3.1.1, clean session, random client id, no will) is answered by CONNACK (0x20 0x02 flags
 * code). Clean session means the broker keeps nothing once we leave, and a random id never displaces a real
 * client. We send DISCONNECT before closing so that the broker logs a normal departure.
 * https://docs.oasis-open.org/mqtt/mqtt/v3.1.1/os/mqtt-v3.1.1-os.html §3.1, §3.2
 */
export function connectPacket(clientId: string): Buffer {
  const id = Buffer.from(clientId, 'utf8');
  const variable = Buffer.from([0, 4, 0x4d, 0x51, 0x54, 0x54, 4, 0x02, 0, 10]); // "MQTT", level 4, clean, 10 s
  const payload = Buffer.concat([Buffer.from([id.length >> 8, id.length & 0xff]), id]);
  const remaining = variable.length + payload.length; // < 128: one length byte
  return Buffer.concat([Buffer.from([0x10, remaining]), variable, payload]);
}

const DISCONNECT = Buffer.from([0xe0, 0]);

const RETURN_CODES: Record<number, string> = {
  0: '',
  1: 'protocol version refused',
  2: 'client id refused',
  3: 'broker unavailable',
  4: 'auth required',
  5: 'auth required',
};

export const mqttProber: ClientFirstProber = {
  name: 'mqtt',
  hintPorts: [1883, 8883],
  async probe(target, deadline) {
    const conversation = await Conversation.open(target, deadline);
    if (!conversation) return { match: null };
    try {
      conversation.write(connectPacket(`pc-discover-${randomBytes(6).toString('hex')}`));
      const reply = await conversation.until((data) => data.length >= 4, deadline);
      const data = reply.data;
      if (data.length < 4 || data[0] !== 0x20 || data[1] !== 0x02 || ((data[2] ?? 0) & 0xfe) !== 0) {
        return { match: null, reply: data };
      }
      const code = data[3] ?? 255;
      const details = RETURN_CODES[code];
      if (details === undefined) return { match: null, reply: data };
      if (code === 0) conversation.write(DISCONNECT);
      return { match: { type: 'mqtt', details } };
    } finally {
      conversation.close();
    }
  },
};
