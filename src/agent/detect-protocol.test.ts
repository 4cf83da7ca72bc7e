import { createServer as createHttpServer } from 'node:http';
import { createServer as createTlsServer } from 'node:tls';
import { createServer, type Server } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { detectProtocol } from './detect-protocol.js';
import { selfSignedCert } from '../../test/helpers/cert.js';

const servers: Server[] = [];
afterAll(() => {
  for (const s of servers) s.close();
});

async function listen(server: Server): Promise<number> {
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return (server.address() as { port: number }).port;
}

const cert = selfSignedCert();

describe('detectProtocol (expose --protocol auto)', () => {
  it('finds http on an HTTP server', async () => {
    const port = await listen(createHttpServer((_req, res) => res.end('ok')));
    expect(await detectProtocol('127.0.0.1', port)).toBe('http');
  });

  it.skipIf(!cert)('finds https on a TLS server', async () => {
    const port = await listen(createTlsServer({ key: cert!.key, cert: cert!.cert }));
    expect(await detectProtocol('127.0.0.1', port)).toBe('https');
  });

  it('calls an echo server tcp (its echo of our probes proves nothing)', async () => {
    const port = await listen(createServer((s) => s.on('error', () => s.destroy()).pipe(s)));
    expect(await detectProtocol('127.0.0.1', port)).toBe('tcp');
  });

  it('calls a silent server and a closed port tcp, within the timeout', async () => {
    const port = await listen(createServer(() => undefined));
    const started = Date.now();
    expect(await detectProtocol('127.0.0.1', port, 200)).toBe('tcp');
    expect(Date.now() - started).toBeLessThan(2000);
    const closed = createServer();
    const closedPort = await listen(closed);
    closed.close();
    expect(await detectProtocol('127.0.0.1', closedPort, 200)).toBe('tcp');
  });
});
