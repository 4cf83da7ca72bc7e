import { identify } from './identify.js';
import { serviceName } from './naming.js';
import { COMMON_PORTS } from './ports.js';
import { resolveHost } from './resolve.js';
import { allLoopback, loopbackListeningPorts } from './listening-sockets.js';
import { pool, scan, type Endpoint } from './scanner.js';
import type { ClientFirstProber } from './probe.js';
import type { DiscoveredService } from './types.js';

export interface DiscoverOptions {
  /** Host to scan; `localhost` (default) covers 127.0.0.1 and ::1. */
  host?: string;
  /** Ports to scan; COMMON_PORTS by default. */
  ports?: readonly number[];
  /** Connect timeout and per-port identification budget, in milliseconds. */
  timeoutMs?: number;
  /** Connection attempts in flight during the port scan. */
  scanConcurrency?: number;
  /** Ports identified at once (each uses one connection at a time). */
  identifyConcurrency?: number;
  /** Replaces the client-first probes (tests). */
  probers?: readonly ClientFirstProber[];
}

export interface DiscoveryReport {
  host: string;
  addresses: string[];
  portsScanned: number;
  elapsedMs: number;
  services: DiscoveredService[];
}

export const DEFAULT_TIMEOUT_MS = 1500;
/** On loopback refusals are instant, so ~500 connects in flight keep both cores busy without starving the loop. */
export const DEFAULT_SCAN_CONCURRENCY = 512;
const DEFAULT_IDENTIFY_CONCURRENCY = 32;

/** Above this many ports, a loopback scan asks the kernel which ports listen before connecting. */
const KERNEL_TABLE_THRESHOLD = 1024;

/**
 * The ports worth connecting to. For a large loopback scan on Linux, only those the kernel lists as listening
 * (each is still confirmed by a real connect); otherwise every requested port.
 */
function candidatePorts(addresses: readonly string[], ports: readonly number[]): readonly number[] {
  if (ports.length <= KERNEL_TABLE_THRESHOLD || !allLoopback(addresses)) return ports;
  const listening = loopbackListeningPorts();
  return listening ? ports.filter((p) => listening.has(p)) : ports;
}

/** Scans the ports of a host and identifies what answers on each open one. */
export async function discover(options: DiscoverOptions = {}): Promise<DiscoveryReport> {
  const started = performance.now();
  const host = (options.host ?? 'localhost').trim();
  const addresses = await resolveHost(host);
  const ports = options.ports ?? COMMON_PORTS;
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const { open } = await scan(addresses, candidatePorts(addresses, ports), {
    concurrency: options.scanConcurrency ?? DEFAULT_SCAN_CONCURRENCY,
    timeoutMs,
  });

  // One service per port: a server listening on both loopbacks is one service. The first address in
  // `addresses` (IPv4 for localhost) is the one probed.
  const byPort = new Map<number, Endpoint>();
  for (const endpoint of open) if (!byPort.has(endpoint.port)) byPort.set(endpoint.port, endpoint);

  const found = await pool(
    [...byPort.values()],
    options.identifyConcurrency ?? DEFAULT_IDENTIFY_CONCURRENCY,
    (e) =>
      identify({ address: e.address, port: e.port, hostname: host }, { timeoutMs, probers: options.probers }),
  );
  const services: DiscoveredService[] = [];
  [...byPort.values()].forEach((endpoint, i) => {
    const identification = found[i];
    // null: the port closed between the scan and the probe; it no longer runs a service.
    if (!identification) return;
    services.push({
      host,
      port: endpoint.port,
      type: identification.type,
      name: serviceName(identification, endpoint.port),
      details: identification.details,
    });
  });
  return { host, addresses, portsScanned: ports.length, elapsedMs: performance.now() - started, services };
}
