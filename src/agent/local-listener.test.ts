import { createServer, type Server } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { listenWithAutoSelect } from './local-listener.js';
import { ConnectError } from '../api/errors.js';

const servers: Server[] = [];
afterAll(() => servers.forEach((s) => s.close()));

async function occupied(): Promise<number> {
  const s = createServer();
  servers.push(s);
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  return (s.address() as { port: number }).port;
}

describe('listenWithAutoSelect (reach, dev)', () => {
  it('takes the asked port when it is free', async () => {
    const port = await occupied();
    servers.pop()?.close();
    await new Promise((r) => setTimeout(r, 20));
    const got = await listenWithAutoSelect('127.0.0.1', port, () => undefined);
    servers.push(got.server);
    expect(got).toMatchObject({ port, autoSelected: false });
  });

  it('moves to the next free port when the asked one is taken, and says so', async () => {
    const taken = await occupied();
    const got = await listenWithAutoSelect('127.0.0.1', taken, () => undefined);
    servers.push(got.server);
    expect(got.port).toBeGreaterThan(taken);
    expect(got.autoSelected).toBe(true);
  });

  it('fails with a clear error when the port is taken and --exact was asked', async () => {
    const taken = await occupied();
    const attempt = listenWithAutoSelect('127.0.0.1', taken, () => undefined, true);
    await expect(attempt).rejects.toBeInstanceOf(ConnectError);
    await expect(attempt).rejects.toThrow(`port ${taken} on 127.0.0.1 is already in use`);
  });
});
