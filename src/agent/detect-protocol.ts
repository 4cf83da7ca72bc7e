import { connect as tcpConnect } from 'node:net';
import type { ServiceProtocol } from '../api/service-protocol.js';

/**
 * `--protocol auto`: a quick, state-free look at the target. A TLS ClientHello answered with a handshake
 * record means https; an HTTP request answered with `HTTP/` means http; anything else is plain tcp.
 */
export async function detectProtocol(host: string, port: number, timeoutMs = 800): Promise<ServiceProtocol> {
  const http = await ask(host, port, Buffer.from(`HEAD / HTTP/1.0\r\nHost: ${host}\r\n\r\n`), timeoutMs);
  if (http?.subarray(0, 5).toString('latin1') === 'HTTP/') return 'http';
  const tls = await ask(host, port, TLS_CLIENT_HELLO_PREFIX, timeoutMs);
  // A ServerHello (handshake type 2) or an alert record: the peer speaks TLS. Checking the handshake type
  // keeps an echo server, which returns our own ClientHello (type 1), from passing for TLS.
  if (
    tls &&
    tls[1] === 0x03 &&
    ((tls[0] === 0x16 && tls[5] === 0x02) || (tls[0] === 0x15 && tls.length >= 7))
  )
    return 'https';
  return 'tcp';
}

/** A minimal TLS 1.2 ClientHello; a TLS server answers with a ServerHello (record type 0x16). */
const TLS_CLIENT_HELLO_PREFIX = Buffer.from(
  '16030100' +
    '31' +
    '0100002d' +
    '0303' +
    '00'.repeat(32) +
    '00' +
    '0004' +
    'c02f' +
    '009c' +
    '0100' +
    '0000',
  'hex',
);

function ask(host: string, port: number, payload: Buffer, timeoutMs: number): Promise<Buffer | undefined> {
  return new Promise((resolve) => {
    const socket = tcpConnect({ host, port });
    const done = (value: Buffer | undefined): void => {
      socket.destroy();
      resolve(value);
    };
    socket.setTimeout(timeoutMs, () => done(undefined));
    socket.once('connect', () => socket.write(payload));
    socket.once('data', (chunk: Buffer) => done(chunk));
    socket.once('error', () => done(undefined));
    socket.once('close', () => done(undefined));
  });
}
