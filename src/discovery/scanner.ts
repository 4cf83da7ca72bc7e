import net from 'node:net';
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { now } from './types.js';

export interface ScanOptions {
  /** Connection attempts in flight at once, over all threads (each is a file descriptor). */
  concurrency: number;
  /** How long a connection attempt may take: what decides a silently dropped (filtered) port. */
  timeoutMs: number;
  /** Threads to spread a large scan over; default: the CPU count, at most 4. 1 keeps it in this thread. */
  threads?: number;
}

export interface Endpoint {
  address: string;
  port: number;
}

/** Per endpoint: 1 open, 0 closed, 2 unknown (descriptor or ephemeral-port shortage: try again). */
export type PortStates = Uint8Array;
const OPEN = 1;
const RETRY = 2;

/** Below this many endpoints a worker's start-up (tens of ms) costs more than it saves. */
const THREAD_THRESHOLD = 4096;

/**
 * Checks endpoints with at most `concurrency` connects in flight: connect, then reset at once.
 *
 * This function is self-contained (no imports, no module-level names, `net` passed in) because its source
 * text is also what runs in the worker threads: Node spends ~50 µs of JavaScript per connect, so one thread
 * tops out near 20 000 ports/s and a full-range scan of both loopbacks (131 070 connects) needs the other cores.
 */
export function checkEndpoints(
  netModule: typeof net,
  endpoints: readonly Endpoint[],
  concurrency: number,
  timeoutMs: number,
): Promise<PortStates> {
  const states = new Uint8Array(endpoints.length);
  if (endpoints.length === 0) return Promise.resolve(states);
  return new Promise((resolve) => {
    let next = 0;
    let done = 0;
    const launch = (): void => {
      const index = next++;
      const endpoint = endpoints[index];
      if (!endpoint) return;
      const socket = netModule.connect({ host: endpoint.address, port: endpoint.port });
      let settled = false;
      const finish = (state: number): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        // A FIN, not a reset: a naive server without an 'error' handler on its sockets would crash on
        // ECONNRESET. The TIME_WAIT this leaves costs one ephemeral port per *open* port only.
        socket.destroy();
        states[index] = state;
        if (++done === endpoints.length) resolve(states);
        else launch();
      };
      const timer = setTimeout(() => finish(0), timeoutMs);
      socket.once('connect', () => {
        // Connecting to 127.0.0.1:P from ephemeral port P can meet itself (TCP simultaneous open): no listener.
        const self = socket.localPort === endpoint.port && socket.localAddress === socket.remoteAddress;
        finish(self ? 0 : 1);
      });
      socket.once('error', (err: NodeJS.ErrnoException) => {
        // Out of descriptors or ephemeral ports: the port is unknown, not closed. (::1 on a host without IPv6
        // also says EADDRNOTAVAIL, and that one is final.)
        const shortage = err.code === 'EMFILE' || err.code === 'ENFILE' || err.code === 'EADDRNOTAVAIL';
        finish(shortage && !endpoint.address.includes(':') ? 2 : 0);
      });
    };
    for (let i = 0; i < Math.min(concurrency, endpoints.length); i++) launch();
  });
}

/** Runs checkEndpoints in a worker thread (from its own source text, so it works from .ts and .js alike). */
function checkInWorker(
  endpoints: readonly Endpoint[],
  concurrency: number,
  timeoutMs: number,
): Promise<PortStates> {
  const source = `
    const net = require('node:net');
    const { parentPort, workerData } = require('node:worker_threads');
    (${checkEndpoints.toString()})(net, workerData.endpoints, workerData.concurrency, workerData.timeoutMs)
      .then((states) => parentPort.postMessage(states));`;
  return new Promise((resolve, reject) => {
    const worker = new Worker(source, { eval: true, workerData: { endpoints, concurrency, timeoutMs } });
    worker.once('message', (states: PortStates) => {
      resolve(states);
      void worker.terminate();
    });
    worker.once('error', reject);
    worker.once('exit', (code) => reject(new Error(`scan worker exited with code ${code}`)));
  });
}

/** Checks endpoints, spread over threads when there are many; a thread that fails is redone in this one. */
async function checkAll(endpoints: readonly Endpoint[], options: ScanOptions): Promise<PortStates> {
  const threads = Math.max(1, options.threads ?? Math.min(4, availableParallelism()));
  if (threads === 1 || endpoints.length < THREAD_THRESHOLD) {
    return checkEndpoints(net, endpoints, options.concurrency, options.timeoutMs);
  }
  // Interleaved slices, so that each thread gets its share of both addresses and of any open ports.
  const slices = Array.from({ length: threads }, (_, k) => endpoints.filter((_, i) => i % threads === k));
  const perThread = Math.max(16, Math.ceil(options.concurrency / threads));
  const results = await Promise.all(
    slices.map((slice) =>
      checkInWorker(slice, perThread, options.timeoutMs).catch(() =>
        checkEndpoints(net, slice, perThread, options.timeoutMs),
      ),
    ),
  );
  const states = new Uint8Array(endpoints.length);
  results.forEach((slice, k) => slice.forEach((state, j) => (states[j * threads + k] = state)));
  return states;
}

/** Scans every address × port; returns the open endpoints in the order of `ports`. */
export async function scan(
  addresses: readonly string[],
  ports: readonly number[],
  options: ScanOptions,
): Promise<{ open: Endpoint[]; elapsedMs: number }> {
  const start = now();
  let pending: Endpoint[] = ports.flatMap((port) => addresses.map((address) => ({ address, port })));
  const open: Endpoint[] = [];
  let concurrency = options.concurrency;
  // Endpoints that met a descriptor shortage are tried again with half the concurrency, a few times at most.
  for (let round = 0; round < 4 && pending.length > 0; round++) {
    const states = await checkAll(pending, { ...options, concurrency });
    open.push(...pending.filter((_, i) => states[i] === OPEN));
    pending = pending.filter((_, i) => states[i] === RETRY);
    concurrency = Math.max(16, Math.floor(concurrency / 2));
  }
  const order = new Map(ports.map((port, i) => [port, i]));
  open.sort((a, b) => (order.get(a.port) ?? 0) - (order.get(b.port) ?? 0));
  return { open, elapsedMs: now() - start };
}

/**
 * Runs `work` over `items` with at most `limit` in flight: a worker pool rather than Promise.all, so that the
 * number of open connections stays bounded whatever the number of items.
 */
export async function pool<T, R>(
  items: readonly T[],
  limit: number,
  work: (item: T) => Promise<R>,
): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const index = next++;
      results[index] = await work(items[index] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  return results;
}
