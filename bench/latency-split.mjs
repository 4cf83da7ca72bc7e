#!/usr/bin/env node
/**
 * Request/response latency only, OpenSSH and Private Connect (plain and TLS) interleaved over many short rounds,
 * for comparing changes that move the p50 by tens of microseconds (the full bench's 5 rounds are too few on a
 * noisy VM). A profiling aid, not part of `npm run bench`.
 *
 *   node bench/latency-split.mjs [--rounds N] [--count N]
 */
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { setupPc } from './lib/pc.mjs';
import { setupSsh } from './lib/ssh.mjs';
import { requestResponse } from './lib/measure.mjs';
import { median, Proc, stopAll } from './lib/util.mjs';

const { values } = parseArgs({
  options: { rounds: { type: 'string', default: '8' }, count: { type: 'string', default: '2000' } },
});

try {
  const servers = new Proc('servers', process.execPath, [
    fileURLToPath(new URL('./lib/servers.mjs', import.meta.url)),
  ]);
  const echo = Number((await servers.waitFor(/"echo":(\d+)/))[1]);
  const targets = { echo, tput: echo };
  /** @type {Record<string, number>} */
  const paths = {};
  const ssh = await setupSsh(targets);
  if ('ports' in ssh) paths.ssh = ssh.ports.echo;
  else console.log(`OpenSSH skipped: ${ssh.skipped}`);
  paths.pc = (await setupPc({ tls: false, targets })).ports.echo;
  paths['pc-tls'] = (await setupPc({ tls: true, targets })).ports.echo;
  /** @type {Record<string, number[]>} */
  const p50s = Object.fromEntries(Object.keys(paths).map((k) => [k, []]));
  for (let r = 0; r < Number(values.rounds); r++) {
    for (const [name, port] of Object.entries(paths)) {
      const { p50 } = await requestResponse(port, { count: Number(values.count), warmup: 200 });
      p50s[name].push(p50);
    }
  }
  for (const [name, xs] of Object.entries(p50s)) {
    console.log(
      `${name.padEnd(7)} p50 µs: median ${median(xs).toFixed(0)}  rounds ${xs.map((x) => x.toFixed(0)).join(' ')}`,
    );
  }
} finally {
  await stopAll();
}
