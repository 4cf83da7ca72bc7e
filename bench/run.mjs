/**
 * `npm run bench`: Private Connect against direct TCP and OpenSSH port forwarding, every figure in one run on one
 * machine, all on loopback. See bench/README.md for what each figure means and what limits it.
 *
 * Environment knobs (all optional):
 *   BENCH_RUNS=5            rounds: repetitions of each throughput/latency figure (the median is reported)
 *   BENCH_SECONDS=3         iperf3 duration per run
 *   BENCH_IDLE_STREAMS=10000
 *   BENCH_ONLY=direct,ssh,pc,pc-ws,pc-tls   paths to measure (pc-ws: agents on masked WebSocket framing)
 *   BENCH_NO_IPERF=1        use the built-in generator even where iperf3 is installed
 *   BENCH_NODE_FLAGS="..."  extra node flags for the hub and agents (e.g. --cpu-prof --cpu-prof-dir=DIR)
 *   BENCH_HUB_FLAGS="..."   extra node flags for the hub only (e.g. --trace-gc)
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem, release } from 'node:os';
import { fileURLToPath } from 'node:url';
import { setupPc } from './lib/pc.mjs';
import { setupSsh } from './lib/ssh.mjs';
import {
  builtinThroughput,
  iperf3Throughput,
  newConnection,
  openIdle,
  requestResponse,
  stalledReader,
} from './lib/measure.mjs';
import { have, killAllSync, Proc, rssOf, run, sleep, stopAll, summary } from './lib/util.mjs';

const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 3);
const IDLE_STREAMS = Number(process.env.BENCH_IDLE_STREAMS ?? 10_000);
const ONLY = (process.env.BENCH_ONLY ?? 'direct,ssh,pc,pc-ws,pc-tls').split(',');
const STALL_MS = 4000;
const WINDOW = 4 * 1024 * 1024; // DEFAULT_INITIAL_WINDOW in src/protocol/frames.ts
const DEADLINE_MS = 9.5 * 60_000;
const started = Date.now();

const log = (/** @type {string} */ msg) =>
  console.error(`[bench ${((Date.now() - started) / 1000).toFixed(0)}s] ${msg}`);

process.on('exit', killAllSync);
for (const sig of /** @type {const} */ (['SIGINT', 'SIGTERM'])) {
  process.on(sig, () => {
    killAllSync();
    process.exit(130);
  });
}
// Everything stops by itself, whatever hangs.
setTimeout(() => {
  console.error('[bench] over the time budget: stopping');
  killAllSync();
  process.exit(2);
}, DEADLINE_MS).unref();

// -------------------------------------------------------------------------------------------------------------
// Set up

const iperf3 = process.env.BENCH_NO_IPERF ? undefined : await have('iperf3');
const notes = /** @type {string[]} */ ([]);
if (!iperf3)
  notes.push(
    'iperf3 not installed (or BENCH_NO_IPERF): throughput from the built-in generator (1 GiB per run)',
  );

const servers = new Proc(
  'servers',
  process.execPath,
  [fileURLToPath(new URL('./lib/servers.mjs', import.meta.url))],
  {
    raiseNofile: true,
  },
);
const serverPorts = /** @type {{ echo: number, sink: number }} */ (
  JSON.parse((await servers.waitFor(/\{.*\}/))[0])
);
let tputTarget = serverPorts.sink;
if (iperf3) {
  const { freePort } = await import('./lib/util.mjs');
  tputTarget = await freePort();
  const iperfServer = new Proc('iperf3 -s', iperf3, [
    '-s',
    '-p',
    String(tputTarget),
    '-B',
    '127.0.0.1',
    '--forceflush',
  ]);
  await iperfServer.waitFor(/Server listening/);
}
const targets = { echo: serverPorts.echo, tput: tputTarget };

/** @typedef {{ name: string, label: string, ports: { echo: number, tput: number } }} Path */
/** @type {Path[]} */
const paths = [];
/** @type {Record<string, string>} */
const skipped = {};
/** @type {Record<string, any>} */
const meta = {};

if (ONLY.includes('direct')) paths.push({ name: 'direct', label: 'direct', ports: targets });

if (ONLY.includes('ssh')) {
  log('starting sshd and ssh -R / ssh -L');
  const ssh = await setupSsh(targets);
  if ('skipped' in ssh) {
    skipped.ssh = ssh.skipped;
    console.error(`[bench] OpenSSH skipped: ${ssh.skipped}`);
  } else {
    paths.push({ name: 'ssh', label: 'OpenSSH -R/-L', ports: /** @type {any} */ (ssh.ports) });
    meta.ssh = { version: ssh.version, cipher: ssh.cipher };
  }
}

/** @type {Record<string, Awaited<ReturnType<typeof setupPc>>>} */
const pcs = {};
/** @type {Record<string, number | undefined>} */
const hubIdleRss = {};
for (const [name, tls, websocket, label] of /** @type {const} */ ([
  ['pc', false, false, 'Private Connect'],
  ['pc-ws', false, true, 'PC (WebSocket)'],
  ['pc-tls', true, false, 'Private Connect (TLS)'],
])) {
  if (!ONLY.includes(name)) continue;
  log(`starting ${label}: hub, 2 exposers, 2 reachers`);
  const pc = await setupPc({ tls, targets, websocket });
  pcs[name] = pc;
  paths.push({ name, label, ports: /** @type {any} */ (pc.ports) });
}
// Idle RSS: after sign-ins, registrations and one echo; before any load; once the hub has been idle for a few
// seconds (a hub started by `npm start` runs one full GC when its event loop goes idle: src/util/idle-gc.ts).
await sleep(5000);
for (const [name, pc] of Object.entries(pcs)) hubIdleRss[name] = rssOf(pc.hub.pid);

// -------------------------------------------------------------------------------------------------------------
// Throughput and latency, interleaved by round so drift hits every path alike.

/** @type {Record<string, Record<string, number[]>>} */
const raw = {};
for (const p of paths) raw[p.name] = { tput1: [], tput8: [], rrP50: [], rrP99: [], ncP50: [], ncP99: [] };

const tput = (/** @type {number} */ port, /** @type {number} */ streams) =>
  iperf3
    ? iperf3Throughput(iperf3, port, { seconds: SECONDS, streams })
    : builtinThroughput(port, { streams });

/**
 * @param {string} what
 * @param {() => Promise<void>} fn
 */
async function attempt(what, fn) {
  try {
    await fn();
  } catch (err) {
    const msg = `${what}: ${err instanceof Error ? err.message : String(err)}`;
    notes.push(msg);
    log(`FAILED ${msg}`);
  }
}

const loadAtStart = loadavg();
if (loadAtStart[0] > 0.5 * cpus().length) {
  console.error(
    `[bench] warning: load average ${loadAtStart[0].toFixed(1)} on ${cpus().length} cores: figures will be noisy`,
  );
}
const reportDeaths = () => {
  for (const pc of Object.values(pcs)) for (const d of pc.deaths()) if (!notes.includes(d)) notes.push(d);
};

for (let round = 1; round <= RUNS; round++) {
  reportDeaths();
  for (const p of paths) {
    log(`round ${round}/${RUNS} ${p.label}`);
    const r = raw[p.name];
    await attempt(
      `${p.name} 1-stream throughput`,
      async () => void r.tput1.push(await tput(p.ports.tput, 1)),
    );
    await attempt(
      `${p.name} 8-stream throughput`,
      async () => void r.tput8.push(await tput(p.ports.tput, 8)),
    );
    await attempt(`${p.name} request/response`, async () => {
      const rr = await requestResponse(p.ports.echo, { count: 5000, warmup: 500 });
      r.rrP50.push(rr.p50);
      r.rrP99.push(rr.p99);
    });
    await attempt(`${p.name} new connection`, async () => {
      const nc = await newConnection(p.ports.echo, { count: 300, warmup: 20 });
      r.ncP50.push(nc.p50);
      r.ncP99.push(nc.p99);
    });
  }
}

// -------------------------------------------------------------------------------------------------------------
// Hub memory: idle, with N idle streams, under a stalled reader.

/** @type {Record<string, any>} */
const memory = {};
for (const [name, pc] of Object.entries(pcs)) {
  // The framing changes nothing of what the hub holds per stream: measured on pc and pc-tls only, for time.
  if (name === 'pc-ws') continue;
  const pid = pc.hub.pid;
  const m = /** @type {Record<string, any>} */ ({ idleRssStart: hubIdleRss[name] });
  memory[name] = m;
  await sleep(5000); // idle again after the load, as above
  m.idleRssAfterLoad = rssOf(pid);

  await attempt(`${name} stalled reader`, async () => {
    const before = rssOf(pid) ?? 0;
    const res = await stalledReader(pc.ports.echo, STALL_MS, async () => {
      const met = await pc.metrics();
      return { buffered: met.pc_hub_buffered_bytes, rss: rssOf(pid) ?? 0 };
    });
    const maxBuffered = Math.max(...res.samples.map((s) => s.buffered));
    const maxRss = Math.max(...res.samples.map((s) => s.rss));
    m.stalled = {
      seconds: STALL_MS / 1000,
      clientBytesAccepted: res.written,
      hubBufferedMax: maxBuffered,
      hubBufferedLast: res.samples.at(-1)?.buffered,
      hubRssGrowth: maxRss - before,
      window: WINDOW,
      // One stream's window, plus one DATA chunk in flight.
      bounded: maxBuffered <= WINDOW + 128 * 1024,
    };
    await sleep(500);
  });

  await attempt(`${name} ${IDLE_STREAMS} idle streams`, async () => {
    await sleep(1000);
    const before = rssOf(pid) ?? 0;
    const metBefore = await pc.metrics();
    const t0 = Date.now();
    const idle = await openIdle(pc.ports.echo, IDLE_STREAMS);
    const openMs = Date.now() - t0;
    await sleep(2000);
    const met = await pc.metrics();
    const after = rssOf(pid) ?? 0;
    await idle.close();
    await sleep(1500);
    const metClosed = await pc.metrics();
    m.idleStreams = {
      requested: IDLE_STREAMS,
      opened: idle.sockets.length,
      failed: idle.failed,
      openSeconds: openMs / 1000,
      splicesAtHub: met.pc_hub_splices,
      rssBefore: before,
      rssWith: after,
      rssPerStream: (after - before) / Math.max(1, idle.sockets.length),
      heapUsedPerStream:
        (met.pc_hub_nodejs_heap_size_used_bytes - metBefore.pc_hub_nodejs_heap_size_used_bytes) /
        Math.max(1, idle.sockets.length),
      splicesAfterClose: metClosed.pc_hub_splices / 2,
      rssAfterClose: rssOf(pid),
    };
  });
}

// -------------------------------------------------------------------------------------------------------------
// Report

reportDeaths();
const loadAtEnd = loadavg();
const ssh = raw.ssh;
/** @type {Record<string, any>} */
const figures = {};
for (const p of paths) {
  const r = raw[p.name];
  figures[p.name] = {
    label: p.label,
    throughput1Gbps: summary(r.tput1),
    throughput8Gbps: summary(r.tput8),
    requestResponseP50us: summary(r.rrP50),
    requestResponseP99us: summary(r.rrP99),
    newConnectionP50ms: summary(r.ncP50),
    newConnectionP99ms: summary(r.ncP99),
  };
}
const ratio = (/** @type {string} */ path, /** @type {string} */ key) =>
  ssh && figures[path] ? figures[path][key].median / figures.ssh[key].median : NaN;

/** @type {{ target: string, value: string, met: boolean | null }[]} */
const targetsMet = [];
const check = (
  /** @type {string} */ target,
  /** @type {number} */ value,
  /** @type {boolean} */ ok,
  /** @type {string} */ shown,
) => targetsMet.push({ target, value: shown, met: Number.isFinite(value) ? ok : null });
{
  const t1 = ratio('pc', 'throughput1Gbps');
  check('single stream >= 2.0x OpenSSH', t1, t1 >= 2, `${t1.toFixed(2)}x`);
  const t8 = ratio('pc', 'throughput8Gbps');
  check('8 streams >= 2.0x OpenSSH', t8, t8 >= 2, `${t8.toFixed(2)}x`);
  const tt = ratio('pc-tls', 'throughput1Gbps');
  check('TLS single stream >= 1.2x OpenSSH', tt, tt >= 1.2, `${tt.toFixed(2)}x`);
  const tt8 = ratio('pc-tls', 'throughput8Gbps');
  check('TLS 8 streams >= 1.2x OpenSSH', tt8, tt8 >= 1.2, `${tt8.toFixed(2)}x`);
  const rr = ratio('pc', 'requestResponseP50us');
  check('request/response p50 <= OpenSSH', rr, rr <= 1, `${rr.toFixed(2)}x`);
  const rrt = ratio('pc-tls', 'requestResponseP50us');
  check('request/response p50 (TLS) <= OpenSSH', rrt, rrt <= 1, `${rrt.toFixed(2)}x`);
  const nc = figures.pc?.newConnectionP50ms.median ?? NaN;
  check('new connection p50 <= 2 ms', nc, nc <= 2, `${nc.toFixed(2)} ms`);
  const ncT = figures['pc-tls']?.newConnectionP50ms.median ?? NaN;
  check('new connection p50 (TLS) <= 2 ms', ncT, ncT <= 2, `${ncT.toFixed(2)} ms`);
  for (const [name, m] of Object.entries(memory)) {
    const idle = m.idleRssStart ?? NaN;
    check(`hub RSS idle <= 80 MB (${name})`, idle, idle <= 80 * 2 ** 20, `${(idle / 2 ** 20).toFixed(1)} MB`);
    const per = m.idleStreams?.rssPerStream ?? NaN;
    check(`hub memory per idle stream <= 4 KB (${name})`, per, per <= 4096, `${(per / 1024).toFixed(2)} KB`);
    const st = m.stalled?.hubBufferedMax ?? NaN;
    check(
      `stalled reader bounded by the window (${name})`,
      st,
      m.stalled?.bounded,
      `buffered max ${(st / 2 ** 20).toFixed(2)} MB, RSS change ${((m.stalled?.hubRssGrowth ?? NaN) / 2 ** 20).toFixed(1)} MB`,
    );
  }
}

const fmt = (/** @type {number} */ x, /** @type {number} */ d) => (Number.isFinite(x) ? x.toFixed(d) : '-');
/** @param {{ median: number, min: number, max: number }} s @param {number} d */
const cell = (s, d) => `${fmt(s.median, d)} (${fmt(s.min, d)}–${fmt(s.max, d)})`;
const rows = [
  ['throughput1Gbps', '1 stream Gbit/s', 2, 'higher'],
  ['throughput8Gbps', '8 streams Gbit/s', 2, 'higher'],
  ['requestResponseP50us', 'req/resp p50 µs', 0, 'lower'],
  ['requestResponseP99us', 'req/resp p99 µs', 0, 'lower'],
  ['newConnectionP50ms', 'new conn p50 ms', 2, 'lower'],
  ['newConnectionP99ms', 'new conn p99 ms', 2, 'lower'],
];
const header = [
  'figure',
  ...paths.map((p) => p.label),
  ...paths.filter((p) => ssh && p.name.startsWith('pc')).map((p) => `${p.name} / ssh`),
];
const table = [header];
for (const [key, title, d] of rows) {
  table.push([
    String(title),
    ...paths.map((p) => cell(figures[p.name][key], Number(d))),
    ...paths
      .filter((p) => ssh && p.name.startsWith('pc'))
      .map((p) => `${fmt(ratio(p.name, String(key)), 2)}x`),
  ]);
}
const widths = header.map((_, i) => Math.max(...table.map((r) => String(r[i]).length)));
const line = (/** @type {string[]} */ r) => `| ${r.map((c, i) => String(c).padEnd(widths[i])).join(' | ')} |`;
const mdTable = [
  line(table[0]),
  `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`,
  ...table.slice(1).map(line),
].join('\n');

const mb = (/** @type {number | undefined} */ x) =>
  x === undefined || !Number.isFinite(x) ? '-' : `${(x / 2 ** 20).toFixed(1)} MB`;
const memLines = Object.entries(memory).map(([name, m]) => {
  const s = m.stalled;
  const i = m.idleStreams;
  return [
    `${name}: hub RSS idle ${mb(m.idleRssStart)} (after load ${mb(m.idleRssAfterLoad)})`,
    i
      ? `  ${i.opened}/${i.requested} idle streams (${i.failed} failed, opened in ${i.openSeconds.toFixed(1)} s, ${i.splicesAtHub} splices at the hub): RSS ${mb(i.rssBefore)} → ${mb(i.rssWith)} = ${(i.rssPerStream / 1024).toFixed(2)} KB/stream (heap used ${(i.heapUsedPerStream / 1024).toFixed(2)} KB/stream); after close ${mb(i.rssAfterClose)}, ${i.splicesAfterClose} splices left`
      : '  idle streams: not measured',
    s
      ? `  stalled reader (${s.seconds} s, client pushed ${mb(s.clientBytesAccepted)} into the path): hub buffered max ${mb(s.hubBufferedMax)} (window ${mb(s.window)}), hub RSS growth ${mb(s.hubRssGrowth)}`
      : '  stalled reader: not measured',
  ].join('\n');
});
const targetLines = targetsMet.map(
  (t) => `${t.met === null ? '[-]' : t.met ? '[ok]' : '[x]'} ${t.target}: ${t.value}`,
);

const machine = {
  cpu: cpus()[0]?.model ?? 'unknown',
  cores: cpus().length,
  memory: mb(totalmem()),
  kernel: release(),
  node: process.version,
  iperf3: iperf3 ? (await run(iperf3, ['--version'])).out.split('\n')[0] : null,
  loadAverageAtStart: loadAtStart.map((x) => Number(x.toFixed(2))),
  loadAverageAtEnd: loadAtEnd.map((x) => Number(x.toFixed(2))),
};
const date = new Date().toISOString();
console.log(`\nPrivate Connect benchmark — ${date}`);
console.log(
  `${machine.cpu}, ${machine.cores} cores, ${machine.memory}, Linux ${machine.kernel}, node ${machine.node}`,
);
console.log(
  `load average (1/5/15 min) at start ${machine.loadAverageAtStart.join(' ')}, at end ${machine.loadAverageAtEnd.join(' ')}`,
);
if (meta.ssh) console.log(`${meta.ssh.version}, cipher ${meta.ssh.cipher}`);
console.log(
  `median of ${RUNS} runs (min–max); throughput: ${iperf3 ? `iperf3 ${SECONDS} s` : 'built-in generator 1 GiB'}; latency: 64-byte ping-pong, 5000 round trips; new connection: 300 sequential connects to first echoed byte\n`,
);
console.log(mdTable);
console.log(`\n${memLines.join('\n')}\n`);
console.log(targetLines.join('\n'));
for (const [k, v] of Object.entries(skipped)) console.log(`[!] ${k} skipped: ${v}`);
for (const n of notes) console.log(`[!] ${n}`);

const result = {
  date,
  machine,
  runs: RUNS,
  seconds: SECONDS,
  ssh: meta.ssh ?? null,
  skipped,
  notes,
  figures,
  memory,
  targets: targetsMet,
  table: mdTable,
};
const dir = fileURLToPath(new URL('./results/', import.meta.url));
mkdirSync(dir, { recursive: true });
const file = `${dir}${date.slice(0, 19).replaceAll(':', '-')}.json`;
writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
console.log(`\nwritten to ${file} (${((Date.now() - started) / 1000).toFixed(0)} s)`);

await Promise.all(Object.values(pcs).map((pc) => pc.stop()));
await stopAll();
process.exit(0);
