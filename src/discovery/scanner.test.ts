import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { probeOrder } from './identify.js';
import { pool, scan } from './scanner.js';

let server: net.Server;
let openPort = 0;
let closedPort = 0;

beforeAll(async () => {
  server = net.createServer((socket) => socket.on('error', () => {}));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  openPort = (server.address() as net.AddressInfo).port;
  // A port that was just free: listen, note it, close.
  const probe = net.createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  closedPort = (probe.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
});

afterAll(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

describe('scan', () => {
  it('finds the open port and not the closed one, in this thread', async () => {
    const { open } = await scan(['127.0.0.1'], [closedPort, openPort], {
      concurrency: 4,
      timeoutMs: 1000,
      threads: 1,
    });
    expect(open).toEqual([{ address: '127.0.0.1', port: openPort }]);
  });

  it('gives the same answer spread over worker threads', async () => {
    // Enough endpoints to use the threads; the open port sits somewhere in the middle.
    const ports = Array.from({ length: 5000 }, (_, i) => ((openPort + i - 2500 + 65534) % 65535) + 1);
    const { open } = await scan(['127.0.0.1'], ports, { concurrency: 256, timeoutMs: 1000, threads: 2 });
    expect(open).toContainEqual({ address: '127.0.0.1', port: openPort });
  });

  it('reports open ports in the order the ports were given', async () => {
    const { open } = await scan(['127.0.0.1', '::1'], [openPort], { concurrency: 2, timeoutMs: 1000 });
    expect(open[0]).toEqual({ address: '127.0.0.1', port: openPort });
  });
});

describe('pool', () => {
  it('never runs more than the limit at once and keeps result order', async () => {
    let running = 0;
    let peak = 0;
    const results = await pool([5, 1, 4, 2, 3, 0], 2, async (n) => {
      peak = Math.max(peak, ++running);
      await new Promise((resolve) => setTimeout(resolve, n));
      running--;
      return n * 10;
    });
    expect(results).toEqual([50, 10, 40, 20, 30, 0]);
    expect(peak).toBe(2);
  });
});

describe('probeOrder', () => {
  it('puts the probe for the usual protocol of the port first, and keeps every probe', () => {
    const names = (port: number): string[] => probeOrder(port).map((p) => p.name);
    expect(names(5432)[0]).toBe('postgres');
    expect(names(443)[0]).toBe('https');
    expect(names(40000)[0]).toBe('redis');
    expect(new Set(names(5432))).toEqual(new Set(names(40000)));
  });
});
