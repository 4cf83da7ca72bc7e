import { createServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import { allLoopback, loopbackListeningPorts } from './listening-sockets.js';

describe.skipIf(process.platform !== 'linux')('loopbackListeningPorts', () => {
  it('lists a port that listens on 127.0.0.1 and forgets it once closed', async () => {
    const server = createServer();
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    expect(loopbackListeningPorts()?.has(port)).toBe(true);
    await new Promise<void>((r) => server.close(() => r()));
    expect(loopbackListeningPorts()?.has(port)).toBe(false);
  });

  it('lists a port that listens on ::1', async (ctx) => {
    const server = createServer();
    const ok = await new Promise<boolean>((r) => {
      server.once('error', () => r(false));
      server.listen(0, '::1', () => r(true));
    });
    if (!ok) {
      console.log('[skip] ::1 is not available here');
      ctx.skip();
      return;
    }
    const port = (server.address() as { port: number }).port;
    expect(loopbackListeningPorts()?.has(port)).toBe(true);
    await new Promise<void>((r) => server.close(() => r()));
  });
});

describe('allLoopback', () => {
  it('accepts only loopback addresses', () => {
    expect(allLoopback(['127.0.0.1', '::1'])).toBe(true);
    expect(allLoopback(['127.0.0.1', '10.0.0.1'])).toBe(false);
  });
});
