/**
 * The measuring clients. Each takes the port a client would use (the server itself for "direct", the `ssh -L`
 * port, or the `connect reach` port) and returns plain numbers.
 */
import { connect } from 'node:net';
import { percentile, run, sleep } from './util.mjs';

/** @param {number} port @returns {Promise<import('node:net').Socket>} */
function dial(port) {
  return new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port, noDelay: true, allowHalfOpen: true });
    s.once('connect', () => {
      s.off('error', reject);
      resolve(s);
    });
    s.once('error', reject);
  });
}

/**
 * Request/response latency over ONE connection: write `size` bytes, wait until all `size` come back, repeat.
 * @param {number} port
 * @param {{ count?: number, warmup?: number, size?: number }} [opts]
 * @returns {Promise<{ p50: number, p99: number, mean: number, count: number }>} microseconds
 */
export async function requestResponse(port, opts = {}) {
  const { count = 5000, warmup = 500, size = 64 } = opts;
  const socket = await dial(port);
  const msg = Buffer.alloc(size, 0x61);
  const samples = new Float64Array(count);
  let got = 0;
  let i = -warmup;
  let t0 = 0n;
  await new Promise((resolve, reject) => {
    socket.on('error', reject);
    socket.on('close', () => reject(new Error('connection closed during the latency run')));
    socket.on('data', (d) => {
      got += d.length;
      if (got < size) return;
      got -= size;
      if (i >= 0) samples[i] = Number(process.hrtime.bigint() - t0) / 1000;
      i++;
      if (i >= count) return resolve(undefined);
      t0 = process.hrtime.bigint();
      socket.write(msg);
    });
    t0 = process.hrtime.bigint();
    socket.write(msg);
  });
  socket.removeAllListeners('close');
  socket.destroy();
  const xs = Array.from(samples);
  return {
    p50: percentile(xs, 50),
    p99: percentile(xs, 99),
    mean: xs.reduce((a, b) => a + b, 0) / xs.length,
    count,
  };
}

/**
 * New-connection time: connect, write `size` bytes at once, stop the clock at the first echoed byte; one at a time.
 * @param {number} port
 * @param {{ count?: number, warmup?: number, size?: number }} [opts]
 * @returns {Promise<{ p50: number, p99: number, count: number }>} milliseconds
 */
export async function newConnection(port, opts = {}) {
  const { count = 300, warmup = 20, size = 64 } = opts;
  const msg = Buffer.alloc(size, 0x62);
  /** @type {number[]} */
  const samples = [];
  for (let i = -warmup; i < count; i++) {
    const ms = await new Promise((resolve, reject) => {
      const t0 = process.hrtime.bigint();
      const s = connect({ host: '127.0.0.1', port, noDelay: true });
      s.once('connect', () => s.write(msg));
      s.once('data', () => {
        const dt = Number(process.hrtime.bigint() - t0) / 1e6;
        s.destroy();
        resolve(dt);
      });
      s.once('error', reject);
      s.once('close', () => reject(new Error('closed before the first echoed byte')));
      s.setTimeout(10_000, () => s.destroy(new Error('no echo within 10 s')));
    });
    if (i >= 0) samples.push(ms);
  }
  return { p50: percentile(samples, 50), p99: percentile(samples, 99), count };
}

/**
 * Built-in generator (used without iperf3): `streams` connections to the sink, each writes its share of `bytes`,
 * sends FIN and waits for the sink's byte count. Gbit/s of bytes the sink confirmed.
 * @param {number} port sink port
 * @param {{ bytes?: number, streams?: number }} [opts]
 */
export async function builtinThroughput(port, opts = {}) {
  const { bytes = 1024 ** 3, streams = 1 } = opts;
  const chunk = Buffer.alloc(256 * 1024, 0x63);
  const share = Math.floor(bytes / streams / chunk.length) * chunk.length;
  const t0 = process.hrtime.bigint();
  const counts = await Promise.all(
    Array.from({ length: streams }, async () => {
      const s = await dial(port);
      let answer = '';
      s.on('data', (d) => (answer += d.toString()));
      const done = new Promise((resolve, reject) => {
        s.once('end', () => resolve(Number(answer.trim())));
        s.once('error', reject);
      });
      for (let sent = 0; sent < share; sent += chunk.length) {
        if (!s.write(chunk)) await new Promise((r) => s.once('drain', r));
      }
      s.end();
      const n = /** @type {number} */ (await done);
      s.destroy();
      return n;
    }),
  );
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  const total = counts.reduce((a, b) => a + b, 0);
  if (total !== share * streams) throw new Error(`sink confirmed ${total} bytes of ${share * streams}`);
  return (total * 8) / secs / 1e9;
}

/**
 * iperf3 client against an `iperf3 -s`; Gbit/s the receiver saw.
 * @param {string} iperf3 path
 * @param {number} port
 * @param {{ seconds?: number, streams?: number }} [opts]
 */
export async function iperf3Throughput(iperf3, port, opts = {}) {
  const { seconds = 3, streams = 1 } = opts;
  const args = ['-c', '127.0.0.1', '-p', String(port), '-t', String(seconds), '-P', String(streams), '-J'];
  const r = await run(iperf3, args, { timeoutMs: (seconds + 20) * 1000 });
  /** @type {any} */
  let json;
  try {
    json = JSON.parse(r.out.slice(r.out.indexOf('{')));
  } catch {
    throw new Error(`iperf3 printed no JSON (exit ${String(r.code)}): ${r.out.slice(0, 500)}`);
  }
  if (json.error) throw new Error(`iperf3: ${json.error}`);
  return json.end.sum_received.bits_per_second / 1e9;
}

/**
 * Opens `n` connections, each confirmed end to end by one echoed byte, and keeps them open.
 * @param {number} port
 * @param {number} n
 * @param {number} [concurrency]
 * @returns {Promise<{ sockets: import('node:net').Socket[], failed: number, close(): Promise<void> }>}
 */
export async function openIdle(port, n, concurrency = 200) {
  /** @type {import('node:net').Socket[]} */
  const sockets = [];
  let failed = 0;
  let next = 0;
  const one = () =>
    new Promise((resolve) => {
      const s = connect({ host: '127.0.0.1', port, noDelay: true });
      const fail = () => {
        failed++;
        s.destroy();
        resolve(undefined);
      };
      s.once('connect', () => s.write('x'));
      s.once('data', () => {
        s.off('error', fail);
        s.on('error', () => undefined);
        s.setTimeout(0);
        sockets.push(s);
        resolve(undefined);
      });
      s.once('error', fail);
      s.setTimeout(20_000, fail);
    });
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < n) {
        next++;
        await one();
      }
    }),
  );
  return {
    sockets,
    failed,
    async close() {
      for (const s of sockets) s.destroy();
      await sleep(200);
    },
  };
}

/**
 * A client that writes as fast as the path accepts and never reads. Through an echo service both directions
 * stall: the echo's replies back up to the client, so the echo stops reading, so the client's writes stop.
 * Calls `sample()` every `everyMs` and returns its results plus the bytes the client managed to write.
 * @template T
 * @param {number} port echo port
 * @param {number} durationMs
 * @param {() => Promise<T>} sample
 * @param {number} [everyMs]
 * @returns {Promise<{ written: number, samples: T[] }>}
 */
export async function stalledReader(port, durationMs, sample, everyMs = 250) {
  const s = await dial(port);
  s.pause(); // never read
  const chunk = Buffer.alloc(64 * 1024, 0x64);
  let written = 0;
  let stop = false;
  s.on('error', () => (stop = true));
  const pump = () => {
    while (!stop) {
      written += chunk.length;
      if (!s.write(chunk)) return; // resumes on 'drain'
    }
  };
  s.on('drain', pump);
  pump();
  /** @type {T[]} */
  const samples = [];
  const end = Date.now() + durationMs;
  while (Date.now() < end) {
    await sleep(everyMs);
    samples.push(await sample());
  }
  stop = true;
  // Bytes still in the client's own socket buffer were never accepted by the path.
  const acceptedByPath = written - s.writableLength;
  s.destroy();
  return { written: acceptedByPath, samples };
}
