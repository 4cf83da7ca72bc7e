/**
 * Private Connect in its real shape: a hub and agents as separate processes of the built CLI, each agent with its
 * own HOME. One `expose` and one `reach` process per service (one exposure per foreground `expose`).
 *
 *   client → reach (agent B) ══ws/wss══► hub (splices frames) ◄══ws/wss══ expose (agent A) → server
 */
import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, Proc, run, tempDir } from './util.mjs';
import { echoOnce } from './tcp.mjs';

export const CLI = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));

/** Extra node flags for hub and agents, e.g. BENCH_NODE_FLAGS="--cpu-prof --cpu-prof-dir=/tmp/prof". */
const NODE_FLAGS = (process.env.BENCH_NODE_FLAGS ?? '').split(/\s+/).filter(Boolean);
/**
 * The hub runs with the node flags `npm start` gives it: a small young generation keeps its idle RSS low, and a
 * 64 MB initial old-generation limit stops V8 from running a full mark-compact every ~90 ms under load (node 20's
 * V8 counts the socket-read buffers allocated since the last full GC against the old generation's limit).
 */
const HUB_NODE_FLAGS = [
  '--max-semi-space-size=2',
  '--optimize-for-size',
  '--initial-old-space-size=64',
  '--expose-gc',
  '--v8-pool-size=1',
  // Hub only, e.g. BENCH_HUB_FLAGS="--trace-gc" (its output is in the Proc's `out`).
  ...(process.env.BENCH_HUB_FLAGS ?? '').split(/\s+/).filter(Boolean),
];

/** @param {string} home @param {Record<string, string>} [extra] */
function cliEnv(home, extra = {}) {
  const env = { ...process.env, HOME: home, NO_COLOR: '1', CONNECT_LOG_LEVEL: 'warn', ...extra };
  delete env.CONNECT_HUB_URL;
  delete env.PRIVATECONNECT_TOKEN;
  return env;
}

/**
 * @param {{ tls: boolean, targets: Record<string, number>, websocket?: boolean }} opts
 *   websocket: agents use the masked WebSocket framing instead of the private-connect fast path (what they fall
 *   back to behind a proxy that passes only WebSockets).
 */
export async function setupPc({ tls, targets, websocket = false }) {
  const tag = tls ? 'tls' : websocket ? 'ws' : 'plain';
  /** @type {Record<string, string>} */
  const extraEnv = websocket ? { CONNECT_TRANSPORT: 'websocket' } : {};
  const hubArgs = [];
  /** @type {Buffer | undefined} */
  let ca;
  if (tls) {
    const dir = tempDir('pc-bench-cert-');
    const cert = join(dir, 'cert.pem');
    const key = join(dir, 'key.pem');
    const r = await run('openssl', [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      key,
      '-out',
      cert,
      '-days',
      '1',
      '-subj',
      '/CN=127.0.0.1',
      '-addext',
      'subjectAltName=IP:127.0.0.1,DNS:localhost',
    ]);
    if (r.code !== 0) throw new Error(`openssl could not make a certificate: ${r.out}`);
    hubArgs.push('--tls-cert', cert, '--tls-key', key);
    extraEnv.NODE_EXTRA_CA_CERTS = cert;
    ca = readFileSync(cert);
  }
  const hubHome = tempDir(`pc-bench-hub-${tag}-`);
  const dataDir = tempDir(`pc-bench-data-${tag}-`);
  const low = 40000 + Math.floor(Math.random() * 400) * 50;
  const hub = new Proc(
    `hub (${tag})`,
    process.execPath,
    [
      ...HUB_NODE_FLAGS,
      ...NODE_FLAGS,
      CLI,
      'hub',
      'start',
      '--port',
      '0',
      '--data-dir',
      dataDir,
      '--tunnel-ports',
      `${low}-${low + 19}`,
      ...hubArgs,
    ],
    { env: cliEnv(hubHome, extraEnv), raiseNofile: true },
  );
  const url = (await hub.waitFor(/listening on (https?:\/\/\S+)/))[1];
  const keyRun = await run(
    process.execPath,
    [CLI, 'hub', 'keys', 'create', '--json', '--data-dir', dataDir],
    {
      env: cliEnv(hubHome),
    },
  );
  if (keyRun.code !== 0) throw new Error(`hub keys create failed: ${keyRun.out}`);
  const apiKey = /** @type {{ key: string }} */ (JSON.parse(keyRun.out.slice(keyRun.out.indexOf('{')))).key;

  const signIn = async (/** @type {string} */ label) => {
    const home = tempDir(`pc-bench-${tag}-${label}-`);
    const r = await run(
      process.execPath,
      [CLI, 'up', '--auth-only', '--hub', url, '--api-key', apiKey, '--label', label],
      {
        env: cliEnv(home, extraEnv),
      },
    );
    if (r.code !== 0) throw new Error(`sign-in of ${label} failed: ${r.out}`);
    return home;
  };

  /** @type {Proc[]} */
  const agents = [];
  /** @type {Record<string, number>} */
  const ports = {};
  /** @type {Record<string, { expose: number, reach: number }>} */
  const agentPids = {};
  for (const [name, target] of Object.entries(targets)) {
    const [homeA, homeB] = await Promise.all([signIn(`${name}-exposer`), signIn(`${name}-reacher`)]);
    const expose = new Proc(
      `expose ${name} (${tag})`,
      process.execPath,
      [...NODE_FLAGS, CLI, 'expose', name, String(target)],
      // Agents log to a file, as under `connect daemon`: the exposer prints two lines per connection.
      { env: cliEnv(homeA, extraEnv), raiseNofile: true, logFile: true },
    );
    agents.push(expose);
    await expose.waitFor(/Tunnel port: (\d+)/);
    const wanted = await freePort();
    const reach = new Proc(
      `reach ${name} (${tag})`,
      process.execPath,
      [...NODE_FLAGS, CLI, 'reach', name, String(wanted), '--exact'],
      { env: cliEnv(homeB, extraEnv), raiseNofile: true, logFile: true },
    );
    agents.push(reach);
    ports[name] = Number((await reach.waitFor(/→ localhost:(\d+)/))[1]);
    agentPids[name] = { expose: expose.pid, reach: reach.pid };
  }
  if (targets.echo) await echoOnce(ports.echo);

  /** GET /metrics → name → value (label-less series only, plus the first of labelled ones). */
  const metrics = () =>
    new Promise((resolve, reject) => {
      const u = new URL('/metrics', url);
      const mod = u.protocol === 'https:' ? https : http;
      const req = mod.get(u, { headers: { 'x-api-key': apiKey }, ca }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d) => (body += d));
        res.on('end', () => {
          if (res.statusCode !== 200)
            return reject(new Error(`GET /metrics: ${res.statusCode} ${body.slice(0, 200)}`));
          /** @type {Record<string, number>} */
          const out = {};
          for (const line of body.split('\n')) {
            const m = line.match(/^([a-zA-Z_:][\w:]*)(\{[^}]*\})?\s+(\S+)/);
            if (m && !(m[1] in out)) out[m[1]] = Number(m[3]);
          }
          resolve(out);
        });
      });
      req.on('error', reject);
      req.setTimeout(10_000, () => req.destroy(new Error('GET /metrics timed out')));
    });

  return {
    url,
    apiKey,
    ports,
    hub,
    agents,
    agentPids,
    /** Output of processes that died, for the report. */
    deaths() {
      return [hub, ...agents]
        .filter((p) => !p.alive)
        .map(
          (p) =>
            `${p.name} exited (${String(p.child.exitCode ?? p.child.signalCode)}): ${p.out.slice(-1500)}`,
        );
    },
    /** @type {() => Promise<Record<string, number>>} */
    metrics: /** @type {any} */ (metrics),
    async stop() {
      await Promise.all(agents.map((a) => a.stop()));
      await hub.stop();
    },
  };
}
