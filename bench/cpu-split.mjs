#!/usr/bin/env node
/**
 * Where the CPU goes on the Private Connect path: runs single-stream iperf3 through reach → hub → expose and reads
 * /proc/<pid>/stat of every process before and after, so each gets user and system CPU-seconds per GB moved.
 * A profiling aid for bench/README.md, not part of `npm run bench`.
 *
 *   node bench/cpu-split.mjs [--tls] [--streams N] [--seconds S] [--runs R]
 *
 * Extra node flags for hub and agents: BENCH_NODE_FLAGS (as for run.mjs), e.g. "--trace-gc".
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { setupPc } from './lib/pc.mjs';
import { freePort, have, Proc, stopAll } from './lib/util.mjs';
import { iperf3Throughput } from './lib/measure.mjs';

const { values } = parseArgs({
  options: {
    tls: { type: 'boolean', default: false },
    streams: { type: 'string', default: '1' },
    seconds: { type: 'string', default: '4' },
    runs: { type: 'string', default: '2' },
  },
});

const TICKS = 100; // USER_HZ on Linux

/** [user, system] CPU-seconds of `pid` so far, and its minor page faults. */
function cpuOf(/** @type {number} */ pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return [Number(fields[11]) / TICKS, Number(fields[12]) / TICKS, Number(fields[7])];
}

const iperf3 = await have('iperf3');
if (!iperf3) {
  console.error('iperf3 is not installed (apt-get install iperf3)');
  process.exit(1);
}
try {
  const sinkPort = await freePort();
  const server = new Proc('iperf3 -s', iperf3, [
    '-s',
    '-p',
    String(sinkPort),
    '-B',
    '127.0.0.1',
    '--forceflush',
  ]);
  await server.waitFor(/Server listening/);
  const pc = await setupPc({ tls: values.tls, targets: { sink: sinkPort } });
  const pids = {
    reach: pc.agentPids.sink.reach,
    hub: pc.hub.pid,
    expose: pc.agentPids.sink.expose,
    'iperf3 -s': server.pid,
  };
  console.log(`pids: ${JSON.stringify(pids)}`);
  for (let i = 0; i < Number(values.runs); i++) {
    const before = Object.fromEntries(Object.entries(pids).map(([k, pid]) => [k, cpuOf(pid)]));
    const seconds = Number(values.seconds);
    const gbits = await iperf3Throughput(iperf3, pc.ports.sink, { seconds, streams: Number(values.streams) });
    const gb = (gbits * seconds) / 8;
    const rows = Object.entries(pids).map(([k, pid]) => {
      const [u, s, f] = cpuOf(pid);
      const [u0, s0, f0] = before[k];
      const faults = ((f - f0) / gb / 1000).toFixed(0);
      return `${k} ${((u - u0) / gb).toFixed(2)}u+${((s - s0) / gb).toFixed(2)}s ${faults}k faults`;
    });
    console.log(`${gbits.toFixed(2)} Gbit/s; CPU-s per GB: ${rows.join(', ')}`);
  }
  if (process.env.BENCH_HUB_FLAGS?.includes('--trace-gc')) {
    const lines = pc.hub.out.split('\n').filter((l) => l.includes('ms: '));
    if (process.env.DUMP_HUB) writeFileSync(process.env.DUMP_HUB, pc.hub.out);
    const kinds = new Map();
    for (const l of lines) {
      const kind = l.match(/ms: ([A-Za-z-]+)/)?.[1] ?? '?';
      kinds.set(kind, (kinds.get(kind) ?? 0) + 1);
    }
    console.log('hub GCs:', JSON.stringify(Object.fromEntries(kinds)));
    console.log(
      lines
        .filter((l) => !l.includes('Scavenge'))
        .slice(-8)
        .join('\n'),
    );
  }
  await pc.stop();
} finally {
  await stopAll();
}
