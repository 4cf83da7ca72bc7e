import { once } from 'node:events';
import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { cachedLookup } from './lookup-cache.js';

function lookupAll(host: string): Promise<{ err: NodeJS.ErrnoException | null; addresses: unknown }> {
  return new Promise((resolve) =>
    cachedLookup(host, { all: true }, (err, addresses) => resolve({ err, addresses })),
  );
}

describe('cachedLookup', () => {
  it('answers a repeated lookup from the cache, with what dns.lookup gave', async () => {
    const first = await lookupAll('localhost');
    const second = await lookupAll('localhost');
    expect(first.err).toBeNull();
    expect(Array.isArray(first.addresses) && first.addresses.length).toBeGreaterThan(0);
    // The very same array: the second answer did not go to the resolver.
    expect(second.addresses).toBe(first.addresses);
  });

  it('gives the single-address form when `all` is not asked for', async () => {
    const { address, family } = await new Promise<{ address: string; family?: number }>((resolve, reject) =>
      cachedLookup('localhost', {}, (err, address, fam) =>
        err ? reject(err) : resolve({ address: address as string, family: fam }),
      ),
    );
    expect(net.isIP(address)).toBe(family);
  });

  it('passes a resolver failure on and never caches it', async () => {
    const a = await lookupAll('no-such-host.invalid');
    const b = await lookupAll('no-such-host.invalid');
    expect(a.err?.code).toMatch(/ENOTFOUND|EAI_AGAIN/);
    expect(b.err).not.toBeNull();
    // A cached answer is the very same array (see above): a failure is asked for again each time.
    expect(b.addresses).not.toBe(a.addresses);
  });

  it('works as net.connect lookup', async () => {
    const server = net.createServer((s) => s.end('hi')).listen(0, '127.0.0.1');
    await once(server, 'listening');
    const { port } = server.address() as net.AddressInfo;
    const socket = net.connect({ host: 'localhost', port, lookup: cachedLookup, family: 4 });
    const [data] = (await once(socket, 'data')) as [Buffer];
    expect(data.toString()).toBe('hi');
    socket.destroy();
    server.close();
  });
});
