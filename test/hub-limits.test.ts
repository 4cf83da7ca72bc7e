/**
 * The hub's limits that `connect hub start --limit name=value` sets (src/hub/limits.ts), each crossed against a
 * real hub: HTTP headers/request timeouts (slowloris), HTTP and tunnel-port connection caps, per-workspace caps on
 * services and tunnel ports. Each offender gets a clear one-line reason; everyone else keeps working.
 */
import { connect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  cleanupAll,
  runCli,
  signedInHome,
  sleep,
  spawnCli,
  startTestHub,
  tempDir,
  type CliProcess,
  type TestHub,
} from './helpers/harness.js';
import { echoServer, type RunningServer } from './helpers/servers.js';
import { selfSignedCert } from './helpers/cert.js';
import { parseLimitFlags } from '../src/cli/hub.js';
import { DEFAULT_HUB_LIMITS } from '../src/hub/limits.js';

const HEADERS_TIMEOUT_MS = 500;
const REQUEST_TIMEOUT_MS = 1500;
/** How late node may cut a timed-out request: its sweep runs every second (at most) plus scheduling slack. */
const SWEEP_SLACK_MS = 1500;

let echo: RunningServer;

beforeAll(async () => {
  echo = await echoServer();
});

afterAll(async () => {
  await cleanupAll();
  await echo.close();
});

/** The `[x]` lines a command printed. */
const failLines = (stderr: string): string[] => stderr.split('\n').filter((l) => l.startsWith('[x]'));

interface Ending {
  /** Milliseconds from connecting to the socket's close. */
  ms: number;
  /** Everything the hub sent before closing. */
  answer: string;
}

/** Opens a raw socket, sends `head`, then `drip` one byte every 200 ms (nothing when empty) until the hub closes. */
function slowClient(port: number, head: string, drip = 'X', socket?: Socket): Promise<Ending> {
  return new Promise((resolve) => {
    const started = Date.now();
    const s = socket ?? connect({ host: '127.0.0.1', port });
    let answer = '';
    let timer: NodeJS.Timeout | undefined;
    const begin = (): void => {
      if (head) s.write(head);
      if (drip) timer = setInterval(() => s.writable && s.write(drip), 200);
    };
    if (socket) begin();
    else s.once('connect', begin);
    s.on('data', (d: Buffer) => (answer += d.toString('latin1')));
    s.on('error', () => undefined);
    s.once('close', () => {
      clearInterval(timer);
      resolve({ ms: Date.now() - started, answer });
    });
  });
}

/** Resolves when the socket closes, with how long it stayed open and whether any byte arrived. */
function closeOf(socket: Socket): Promise<{ ms: number; bytes: number }> {
  const started = Date.now();
  let bytes = 0;
  socket.on('data', (d: Buffer) => (bytes += d.length));
  socket.on('error', () => undefined);
  return new Promise((resolve) => socket.once('close', () => resolve({ ms: Date.now() - started, bytes })));
}

/** A connected socket to a tunnel port. */
async function open(port: number): Promise<Socket> {
  const s = connect({ host: '127.0.0.1', port });
  await new Promise<void>((resolve, reject) => {
    s.once('connect', resolve);
    s.once('error', reject);
  });
  return s;
}

/** Writes a line and waits until it is echoed back (through the hub and the agent). */
function echoes(s: Socket, text: string, timeoutMs = 5000): Promise<void> {
  return new Promise((resolve, reject) => {
    let got = '';
    const timer = setTimeout(() => reject(new Error(`no echo of '${text}' (got '${got}')`)), timeoutMs);
    const onData = (d: Buffer): void => {
      got += d.toString();
      if (got.includes(text)) {
        clearTimeout(timer);
        s.off('data', onData);
        resolve();
      }
    };
    s.on('data', onData);
    s.write(text);
  });
}

async function health(hub: TestHub): Promise<number> {
  return (await fetch(`${hub.url}/health`)).status;
}

/** `connect expose <name> <echo port>` in the foreground; resolves once the hub gave it a tunnel port. */
async function exposeEcho(home: string, name: string): Promise<{ proc: CliProcess; tunnelPort: number }> {
  const proc = spawnCli(['expose', name, String(echo.port), '--protocol', 'tcp'], { home });
  return { proc, tunnelPort: (await proc.waitForEvent('exposed')).tunnelPort };
}

describe('connect hub start --limit', () => {
  const start = (...limits: string[]) =>
    runCli(
      ['hub', 'start', '--port', '0', '--data-dir', tempDir('pc-limits-bad-')].concat(
        limits.flatMap((l) => ['--limit', l]),
      ),
      { home: tempDir('pc-limits-home-'), timeoutMs: 15_000 },
    );

  it('maps kebab-case names onto the HubLimits keys (the last of a name wins), the rest stay default', () => {
    const { limits, given } = parseLimitFlags([
      'sessions-per-key=2',
      'headers-timeout-ms=500',
      'sessions-per-key=3',
    ]);
    expect(limits).toEqual({ ...DEFAULT_HUB_LIMITS, sessionsPerKey: 3, headersTimeoutMs: 500 });
    expect(given).toEqual(['sessions-per-key=3', 'headers-timeout-ms=500']);
    // Every key has a name (4 MiB: the smallest value every limit takes, max-stream-window included).
    const all = Object.keys(DEFAULT_HUB_LIMITS).map(
      (k) => `${k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}=4194304`,
    );
    expect(Object.values(parseLimitFlags(all).limits).every((v) => v === 4194304)).toBe(true);
  });

  it("refuses a max-stream-window below the agents' window (it would reset honest uploads)", () => {
    expect(() => parseLimitFlags(['max-stream-window=1048576'])).toThrow(
      "--limit max-stream-window must be at least the agents' window of 4194304 bytes, got 1048576",
    );
  });

  it('refuses an unknown name with one line listing the valid names, exit 1', async () => {
    const r = await start('sessions-per-kee=2');
    expect(r.code).toBe(1);
    const lines = failLines(r.stderr);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/unknown --limit 'sessions-per-kee': use one of streams-per-session, /);
    for (const name of ['sessions-per-key', 'headers-timeout-ms', 'connections-per-tunnel-port']) {
      expect(lines[0]).toContain(name);
    }
  });

  it('refuses a value that is not a positive integer, and a flag without =', async () => {
    for (const value of ['0', '-1', '1.5', 'abc', '', '1e3', '99999999999999999999']) {
      const r = await start(`sessions-per-key=${value}`);
      expect(r.code).toBe(1);
      expect(failLines(r.stderr)).toEqual([
        `[x] --limit sessions-per-key must be a positive integer, got '${value}'`,
      ]);
    }
    const noEq = await start('sessions-per-key');
    expect(noEq.code).toBe(1);
    expect(failLines(noEq.stderr)).toEqual([
      "[x] invalid --limit 'sessions-per-key': use name=value, e.g. --limit sessions-per-key=64",
    ]);
    const huge = await start(`upgrade-timeout-ms=${2 ** 31}`);
    expect(huge.code).toBe(1);
    expect(failLines(huge.stderr)).toEqual([
      `[x] --limit upgrade-timeout-ms must be at most ${2 ** 31 - 1} (milliseconds), got ${2 ** 31}`,
    ]);
  });

  it('refuses headers-timeout-ms above request-timeout-ms with the reason', async () => {
    const r = await start('headers-timeout-ms=5000', 'request-timeout-ms=1000');
    expect(r.code).toBe(1);
    expect(failLines(r.stderr)).toEqual([
      '[x] headers-timeout-ms (5000) must not exceed request-timeout-ms (1000): the headers are part of the request',
    ]);
  });
});

describe('HTTP timeouts (--limit headers-timeout-ms, request-timeout-ms)', () => {
  let hub: TestHub;
  let key: string;

  beforeAll(async () => {
    hub = await startTestHub({
      args: [
        '--limit',
        `headers-timeout-ms=${HEADERS_TIMEOUT_MS}`,
        '--limit',
        `request-timeout-ms=${REQUEST_TIMEOUT_MS}`,
      ],
    });
    key = await hub.createKey();
  });

  it('prints the changed limits at start', () => {
    expect(hub.process.stdout).toContain(
      `Limits:       headers-timeout-ms=${HEADERS_TIMEOUT_MS} request-timeout-ms=${REQUEST_TIMEOUT_MS}`,
    );
  });

  it('cuts a slowloris (one header byte per 200 ms) within headersTimeout + ~1 s; others are served meanwhile', async () => {
    const slow = slowClient(hub.port, 'GET /health HTTP/1.1\r\nHost: x\r\n');
    await sleep(HEADERS_TIMEOUT_MS / 2);
    expect(await health(hub)).toBe(200);
    const ended = await slow;
    expect(ended.ms).toBeGreaterThanOrEqual(HEADERS_TIMEOUT_MS - 50);
    expect(ended.ms).toBeLessThan(HEADERS_TIMEOUT_MS + SWEEP_SLACK_MS);
    if (ended.answer) expect(ended.answer).toMatch(/^HTTP\/1.1 408 /);
    expect(await health(hub)).toBe(200);
  });

  it('cuts a connection that sends nothing at all the same way', async () => {
    const ended = await slowClient(hub.port, '', '');
    expect(ended.ms).toBeLessThan(HEADERS_TIMEOUT_MS + SWEEP_SLACK_MS);
    if (ended.answer) expect(ended.answer).toMatch(/^HTTP\/1.1 408 /);
  });

  it('bounds the headers of a WebSocket upgrade request too', async () => {
    const ended = await slowClient(
      hub.port,
      'GET /v1/connect HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n',
    );
    expect(ended.ms).toBeLessThan(HEADERS_TIMEOUT_MS + SWEEP_SLACK_MS);
    expect(ended.answer).not.toContain('101');
  });

  it('cuts a request whose body drips in once request-timeout-ms has passed', async () => {
    const ended = await slowClient(
      hub.port,
      'POST /v1/agents HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n' +
        `x-api-key: ${key}\r\nContent-Length: 1000\r\n\r\n{"label": "`,
      'a',
    );
    expect(ended.ms).toBeGreaterThanOrEqual(REQUEST_TIMEOUT_MS - 50);
    expect(ended.ms).toBeLessThan(REQUEST_TIMEOUT_MS + SWEEP_SLACK_MS);
    if (ended.answer) expect(ended.answer).toMatch(/^HTTP\/1.1 408 /);
    expect(await health(hub)).toBe(200);
  });

  it('still lets agents sign in and hold their WebSocket beyond both timeouts', async () => {
    const home = await signedInHome(hub, key, 'steady');
    const { proc } = await exposeEcho(home, 'steady');
    await sleep(REQUEST_TIMEOUT_MS + SWEEP_SLACK_MS);
    const services = (await (
      await fetch(`${hub.url}/v1/services`, { headers: { 'x-api-key': key } })
    ).json()) as { name: string; status: string }[];
    expect(services).toEqual([expect.objectContaining({ name: 'steady', status: 'online' })]);
    await proc.stop();
  });
});

const cert = selfSignedCert();
if (!cert)
  console.log('[skip] TLS slowloris test: openssl is not installed to make a throw-away certificate');

describe.skipIf(!cert)('HTTP timeouts on a TLS hub', () => {
  it('cuts a stalled TLS handshake and a TLS slowloris within headersTimeout + ~1 s', async () => {
    const { certFile, keyFile } = cert!;
    const hub = await startTestHub({
      args: [
        '--tls-cert',
        certFile,
        '--tls-key',
        keyFile,
        '--limit',
        `headers-timeout-ms=${HEADERS_TIMEOUT_MS}`,
      ],
    });
    // TCP only: no ClientHello ever.
    const stalled = await slowClient(hub.port, '', '');
    expect(stalled.ms).toBeLessThan(HEADERS_TIMEOUT_MS + SWEEP_SLACK_MS);
    // A finished handshake, then headers one byte at a time.
    const tls = tlsConnect({
      host: '127.0.0.1',
      port: hub.port,
      servername: 'localhost',
      ca: readFileSync(certFile),
    });
    await new Promise<void>((resolve, reject) => {
      tls.once('secureConnect', resolve);
      tls.once('error', reject);
    });
    const slow = await slowClient(hub.port, 'GET /health HTTP/1.1\r\nHost: x\r\n', 'X', tls);
    expect(slow.ms).toBeLessThan(HEADERS_TIMEOUT_MS + SWEEP_SLACK_MS);
    if (slow.answer) expect(slow.answer).toMatch(/^HTTP\/1.1 408 /);
    await hub.stop();
  });
});

describe('HTTP connections (--limit http-connections)', () => {
  it('closes a connection beyond the limit at once and logs why; a freed slot serves again', async () => {
    const hub = await startTestHub({ args: ['--limit', 'http-connections=3'] });
    const held = await Promise.all([open(hub.port), open(hub.port), open(hub.port)]);
    await sleep(100);
    const extra = await closeOf(connect({ host: '127.0.0.1', port: hub.port }));
    expect(extra.ms).toBeLessThan(1000);
    expect(extra.bytes).toBe(0);
    await hub.process.waitFor(
      /the HTTP API refused a connection: it already holds 3 connections \(the hub's limit is 3\)/,
    );
    held[0]?.destroy();
    await sleep(200);
    const res = await fetch(`${hub.url}/health`, { headers: { connection: 'close' } });
    expect(res.status).toBe(200);
    for (const s of held) s.destroy();
    await hub.stop();
  });
});

describe('tunnel-port connections and per-workspace caps', () => {
  let hub: TestHub;
  let key: string;
  let home: string;
  const exposers = new Map<string, { proc: CliProcess; tunnelPort: number }>();

  beforeAll(async () => {
    hub = await startTestHub({
      args: ['--limit', 'connections-per-tunnel-port=2', '--limit', 'services-per-workspace=3'],
    });
    key = await hub.createKey();
    home = await signedInHome(hub, key, 'server-a');
    exposers.set('echo', await exposeEcho(home, 'echo'));
  });

  it('closes a third concurrent tunnel-port connection at once while the first two still carry bytes', async () => {
    const port = exposers.get('echo')?.tunnelPort ?? 0;
    const [a, b] = [await open(port), await open(port)];
    await echoes(a, 'one');
    await echoes(b, 'two');
    const third = await closeOf(connect({ host: '127.0.0.1', port }));
    expect(third.ms).toBeLessThan(1000);
    expect(third.bytes).toBe(0);
    await echoes(a, 'still one');
    await echoes(b, 'still two');
    await hub.process.waitFor(
      new RegExp(
        `tunnel port ${port} \\(service 'echo'\\) refused a connection: it already holds 2 connections \\(the hub's limit is 2\\)`,
      ),
    );
    // The limit is on connections at once: a freed slot takes a new one.
    a.destroy();
    let next: Socket | undefined;
    for (let i = 0; i < 20 && !next; i++) {
      await sleep(100);
      const s = await open(port);
      const ok = await echoes(s, 'next', 500).then(
        () => true,
        () => false,
      );
      if (ok) next = s;
      else s.destroy();
    }
    expect(next).toBeDefined();
    next?.destroy();
    b.destroy();
  });

  it('refuses a 4th service of a workspace with one line naming the limit; other workspaces are unaffected', async () => {
    exposers.set('two', await exposeEcho(home, 'two'));
    exposers.set('three', await exposeEcho(home, 'three'));
    const r = await runCli(['expose', 'four', String(echo.port), '--protocol', 'tcp'], { home });
    expect(r.code).toBe(1);
    expect(failLines(r.stderr)).toEqual([
      "[x] workspace 'default' already has 3 services (the hub's limit is 3)",
    ]);
    // Another workspace has its own count.
    const otherKey = await hub.createKey('other');
    const otherHome = await signedInHome(hub, otherKey, 'server-b');
    const other = await exposeEcho(otherHome, 'four');
    await other.proc.stop();
  });

  it('lets a service at the cap come back online, and a removed one frees its slot', async () => {
    // Offline (Ctrl+C of a foreground expose) is not removal: the service still counts, and may return.
    await exposers.get('three')?.proc.stop();
    exposers.set('three', await exposeEcho(home, 'three'));
    await exposers.get('three')?.proc.stop();
    const stopped = await runCli(['expose', 'stop', 'three'], { home });
    expect(stopped.code).toBe(0);
    exposers.set('four', await exposeEcho(home, 'four'));
  });
});

describe('tunnel ports per workspace (--limit tunnel-ports-per-workspace)', () => {
  it('refuses a service that would need one more tunnel port than the workspace may hold', async () => {
    const hub = await startTestHub({ args: ['--limit', 'tunnel-ports-per-workspace=1'] });
    const key = await hub.createKey();
    const home = await signedInHome(hub, key, 'server-a');
    const first = await exposeEcho(home, 'first');
    const r = await runCli(['expose', 'second', String(echo.port), '--protocol', 'tcp'], { home });
    expect(r.code).toBe(1);
    expect(failLines(r.stderr)).toEqual([
      "[x] workspace 'default' already holds 1 tunnel port (the hub's limit is 1)",
    ]);
    await first.proc.stop();
    await hub.stop();
  });
});
