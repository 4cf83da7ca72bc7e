/**
 * Discovery against real servers: the ones this machine runs (each skipped with a reason when absent), the same
 * ones behind a plain TCP forwarder on a random port (so the port number cannot help), and servers started here.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { discover } from '../src/discovery/discover.js';
import type { DiscoveredService, ServiceType } from '../src/discovery/types.js';
import {
  reachable,
  selfSignedCert,
  startClosing,
  startForwarder,
  startHttp,
  startHttps,
  startMongoResponder,
  startSilent,
  type Running,
} from './helpers/discover-servers.js';

const REAL: { label: string; port: number; type: ServiceType; details: RegExp }[] = [
  { label: 'PostgreSQL', port: 5432, type: 'postgres', details: /^(TLS available)?$/ },
  { label: 'MariaDB', port: 3306, type: 'mysql', details: /^(MariaDB|MySQL) \d+\.\d+/ },
  { label: 'Redis', port: 6379, type: 'redis', details: /^(Redis \d|auth required)/ },
  { label: 'NATS', port: 4222, type: 'nats', details: /^nats-server \d/ },
  { label: 'RabbitMQ', port: 5672, type: 'amqp', details: /^RabbitMQ \d/ },
  { label: 'Mosquitto', port: 1883, type: 'mqtt', details: /^(|auth required)$/ },
];

const TIMEOUT = 1500;

async function one(port: number, timeoutMs = TIMEOUT): Promise<DiscoveredService | undefined> {
  const report = await discover({ host: '127.0.0.1', ports: [port], timeoutMs });
  expect(report.services.length).toBeLessThanOrEqual(1);
  return report.services[0];
}

const present = new Map<number, boolean>();
const forwarders = new Map<number, Running>();

beforeAll(async () => {
  for (const server of REAL) {
    present.set(server.port, await reachable(server.port));
    if (present.get(server.port)) forwarders.set(server.port, await startForwarder(server.port));
  }
});

afterAll(async () => {
  await Promise.all([...forwarders.values()].map((f) => f.close()));
});

describe.each(REAL)('$label', ({ label, port, type, details }) => {
  it(`is identified as ${type} on its own port ${port}`, async (ctx) => {
    if (!present.get(port)) {
      console.log(`skipped: no ${label} on 127.0.0.1:${port}`);
      ctx.skip();
    }
    const found = await one(port);
    expect(found).toMatchObject({ host: '127.0.0.1', port, type, name: `${type}-${port}` });
    expect(found?.details).toMatch(details);
  });

  it(`is identified as ${type} through a forwarder on a random port`, async (ctx) => {
    const forwarder = forwarders.get(port);
    if (!forwarder) {
      console.log(`skipped: no ${label} on 127.0.0.1:${port} to forward to`);
      return ctx.skip();
    }
    const found = await one(forwarder.port);
    expect(found).toMatchObject({ port: forwarder.port, type, name: `${type}-${forwarder.port}` });
    expect(found?.details).toMatch(details);
  });
});

describe('servers started by the test', () => {
  const servers: Running[] = [];
  afterAll(async () => {
    await Promise.all(servers.map((s) => s.close()));
  });
  const keep = (server: Running): Running => {
    servers.push(server);
    return server;
  };

  it('identifies HTTP with its title and Server header, named after the title', async () => {
    const server = keep(await startHttp('Acme Dashboard', 'acme-httpd/2.1'));
    const found = await one(server.port);
    expect(found).toEqual({
      host: '127.0.0.1',
      port: server.port,
      type: 'http',
      name: `acme-dashboard-${server.port}`,
      details: 'Acme Dashboard, acme-httpd/2.1',
    });
  });

  it('identifies HTTPS (TLS, then HTTP inside) with a throwaway self-signed certificate', async (ctx) => {
    const cert = selfSignedCert();
    if (!cert) {
      console.log('skipped: openssl is not installed, cannot make a test certificate');
      return ctx.skip();
    }
    const server = keep(await startHttps(cert, 'Secure Admin', 'secure-httpd/1.0'));
    const found = await one(server.port);
    expect(found).toEqual({
      host: '127.0.0.1',
      port: server.port,
      type: 'https',
      name: `secure-admin-${server.port}`,
      details: 'Secure Admin, secure-httpd/1.0',
    });
  });

  it('identifies MongoDB from an OP_MSG hello reply', async () => {
    const server = keep(await startMongoResponder());
    const found = await one(server.port);
    expect(found).toMatchObject({
      type: 'mongodb',
      name: `mongodb-${server.port}`,
      details: 'MongoDB 7.0, primary',
    });
  });

  it('lists a port that accepts and never answers as tcp, within the timeout', async () => {
    const server = keep(await startSilent());
    const started = performance.now();
    const found = await one(server.port, 800);
    const elapsed = performance.now() - started;
    expect(found).toMatchObject({ type: 'tcp', name: `tcp-${server.port}` });
    // The whole identification is bounded by the timeout (plus scheduling slack), whatever the port does.
    expect(elapsed).toBeLessThan(800 + 400);
  });

  it('lists a port that closes at once as tcp, quickly', async () => {
    const server = keep(await startClosing());
    const started = performance.now();
    const found = await one(server.port);
    expect(found).toMatchObject({ type: 'tcp', details: 'closes connections at once' });
    expect(performance.now() - started).toBeLessThan(TIMEOUT);
  });

  it('does not let a silent port stall the others: many ports finish within about one timeout', async () => {
    const silent = await Promise.all([1, 2, 3, 4, 5, 6].map(() => startSilent().then(keep)));
    const web = keep(await startHttp('Fast', 'fast/1'));
    const started = performance.now();
    const report = await discover({
      host: '127.0.0.1',
      ports: [...silent.map((s) => s.port), web.port],
      timeoutMs: 600,
    });
    expect(performance.now() - started).toBeLessThan(600 * 2);
    expect(report.services.map((s) => s.type).sort()).toEqual([
      'http',
      'tcp',
      'tcp',
      'tcp',
      'tcp',
      'tcp',
      'tcp',
    ]);
  });
});

describe('localhost', () => {
  it('scans 127.0.0.1 and ::1 and reports a service once per port', async () => {
    const server = await startHttp('Twice', 'twice/1');
    try {
      const report = await discover({ ports: [server.port], timeoutMs: TIMEOUT });
      expect(report.addresses).toEqual(['127.0.0.1', '::1']);
      expect(report.services).toEqual([
        expect.objectContaining({ host: 'localhost', port: server.port, type: 'http' }),
      ]);
    } finally {
      await server.close();
    }
  });

  it('scans the full range 1-65535 within seconds and leaks no sockets', async () => {
    const server = await startHttp('Needle', 'needle/1');
    const before = process.getActiveResourcesInfo().filter((r) => r === 'TCPSocketWrap').length;
    try {
      const ports = Array.from({ length: 65535 }, (_, i) => i + 1);
      const started = performance.now();
      const report = await discover({ ports, timeoutMs: TIMEOUT });
      const elapsed = performance.now() - started;
      console.log(
        `full-range scan of localhost (127.0.0.1 + ::1): ${Math.round(elapsed)} ms, ${report.services.length} services`,
      );
      expect(report.services).toContainEqual(
        expect.objectContaining({ port: server.port, type: 'http', name: `needle-${server.port}` }),
      );
      // A guard against a stall (a serial scan or a leaked timeout would take minutes), not a benchmark: the
      // scan is CPU-bound (~50 µs of JavaScript per connect), so a shared 2-core box under load takes longer
      // than an idle one. The measured time is printed above.
      expect(elapsed).toBeLessThan(60_000);
    } finally {
      await server.close();
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
    const after = process.getActiveResourcesInfo().filter((r) => r === 'TCPSocketWrap').length;
    expect(after).toBeLessThanOrEqual(before);
  });
});
