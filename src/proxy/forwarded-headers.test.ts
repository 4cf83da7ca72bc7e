import { describe, expect, it } from 'vitest';
import type { IncomingMessage } from 'node:http';
import { ProxyStamp, responseHeaders } from './forwarded-headers.js';

function request(headers: IncomingMessage['headers']): IncomingMessage {
  return { headers, socket: { remoteAddress: '::ffff:127.0.0.1' } } as unknown as IncomingMessage;
}

describe('forwarded headers', () => {
  it('drops hop-by-hop headers and those Connection lists, adds X-Forwarded-* and Via', () => {
    const stamp = new ProxyStamp('abc123');
    const out = stamp.requestHeaders(
      request({
        host: 'api.localhost:9999',
        connection: 'keep-alive, x-secret',
        'keep-alive': 'timeout=5',
        'x-secret': 'hop',
        expect: '100-continue',
        accept: '*/*',
        'x-forwarded-for': '10.0.0.1',
      }),
    );
    expect(out).toEqual({
      host: 'api.localhost:9999',
      accept: '*/*',
      'x-forwarded-for': '10.0.0.1, 127.0.0.1',
      'x-forwarded-host': 'api.localhost:9999',
      'x-forwarded-proto': 'http',
      via: '1.1 private-connect-abc123',
    });
    expect(responseHeaders({ 'content-type': 'text/plain', 'transfer-encoding': 'chunked' })).toEqual({
      'content-type': 'text/plain',
    });
  });

  it('knows a request that already went through this proxy', () => {
    const stamp = new ProxyStamp('abc123');
    expect(stamp.isLoop(request({ via: '1.1 other, 1.1 private-connect-abc123' }))).toBe(true);
    expect(stamp.isLoop(request({ via: '1.1 private-connect-def456' }))).toBe(false);
    expect(stamp.isLoop(request({}))).toBe(false);
  });
});
