/**
 * Hostile peers against a real hub process: raw clients that hold a valid API key and speak the wire format
 * (test/helpers/raw-peer.ts) try to crash the hub, fill its memory or hold its sockets. After every attack the hub
 * must still answer /health, its RSS must stay within a bound of what it was before, the offender must have been
 * told why (an RST or close reason), and a bystander tenant's reach must keep carrying bytes.
 *
 * The hub runs with some limits lowered (--limit) so that each one is crossed quickly; src/hub/limits.ts has the
 * defaults. Each attack's figures (hub RSS before/after, what the offender saw) are printed at the end.
 */
import { connect, type Socket } from 'node:net';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { encodeDataFrame, encodeFrame, FrameType, ResetCode, type Frame } from '../src/protocol/frames.js';
import {
  cleanupAll,
  signedInHome,
  spawnCli,
  startTestHub,
  type CliProcess,
  type TestHub,
} from './helpers/harness.js';
import { echoServer, roundTrip, type RunningServer } from './helpers/servers.js';
import { RawPeer, health, hubRss, registerAgent, wsMessage } from './helpers/raw-peer.js';
import { WsOpcode } from '../src/protocol/ws-codec.js';

const MiB = 1024 * 1024;
/** How much the hub's RSS may grow during one attack. Each attack pushes several times this at the hub. */
const RSS_BOUND = 64 * MiB;
const LIMITS = {
  'streams-per-session': 16,
  'pending-opens-per-session': 8,
  'pending-bytes-per-session': 16_384,
  'unsent-slack-bytes': MiB,
  'control-burst': 20,
  'control-per-second': 10,
  'sessions-per-key': 6,
  'headers-timeout-ms': 1000,
  'refused-socket-grace-ms': 1000,
};

let hub: TestHub;
let echo: RunningServer;
let bystanderPort = 0;
const bystanders: CliProcess[] = [];
const peers: RawPeer[] = [];
const report: { attack: string; rssBefore: number; rssAfter: number; offenderSaw: string }[] = [];
let rssBefore = 0;

/** A new key and a raw session under it (its own workspace: the attacker is a tenant like any other). */
async function attacker(label: string, key?: string): Promise<{ peer: RawPeer; key: string }> {
  const apiKey = key ?? (await hub.createKey(`attacker-${label}`));
  const { agentId } = await registerAgent(hub.url, apiKey, label);
  const peer = await RawPeer.connect(hub.url, { apiKey, agentId });
  peers.push(peer);
  await peer.waitFor((f) => f.type === FrameType.CONTROL && f.msg.op === 'welcome');
  return { peer, key: apiKey };
}

/** A second raw session in the attacker's workspace. */
async function sibling(key: string, label: string): Promise<RawPeer> {
  return (await attacker(label, key)).peer;
}

async function exposeRaw(peer: RawPeer, name: string, rid = 1): Promise<void> {
  peer.control({ op: 'expose', rid, name, targetHost: '127.0.0.1', targetPort: 9 });
  const reply = await peer.waitForReply(rid);
  expect(reply.msg).toMatchObject({ ok: true });
}

const isRst = (streamId: number) => (f: Frame) => f.type === FrameType.RST && f.streamId === streamId;

function record(attack: string, offenderSaw: string): void {
  report.push({ attack, rssBefore, rssAfter: hubRss(hub.process.pid), offenderSaw });
}

/** Live sessions of a key's workspace, as the hub's /metrics tells its tenants. */
async function workspaceSessions(key: string): Promise<number> {
  const text = await (await fetch(`${hub.url}/metrics`, { headers: { 'x-api-key': key } })).text();
  return Number(/^pc_hub_sessions (\d+)/m.exec(text)?.[1] ?? NaN);
}

/** Writes `message` `times` times, waiting for the socket to drain now and then (the hub reads as it goes). */
async function flood(peer: RawPeer, message: Buffer, times: number): Promise<void> {
  for (let i = 0; i < times && !peer.isClosed; i++) {
    if (!peer.writeRaw(message)) await peer.drained();
  }
  await peer.drained();
}

beforeAll(async () => {
  hub = await startTestHub({
    args: Object.entries(LIMITS).flatMap(([name, value]) => ['--limit', `${name}=${value}`]),
  });
  // The bystander: another workspace, real agents, an echo service reached through the hub.
  echo = await echoServer();
  const key = await hub.createKey('bystander');
  const serverHome = await signedInHome(hub, key, 'bystander-server');
  const clientHome = await signedInHome(hub, key, 'bystander-client');
  const exposer = spawnCli(['expose', 'bystander-echo', String(echo.port)], { home: serverHome });
  bystanders.push(exposer);
  await exposer.waitForEvent('exposed');
  const reacher = spawnCli(['reach', 'bystander-echo', '0'], { home: clientHome });
  bystanders.push(reacher);
  bystanderPort = (await reacher.waitForEvent('reaching')).localPort;
});

afterAll(async () => {
  for (const p of peers) p.destroy();
  await echo?.close();
  await cleanupAll();
  console.log(
    ['attack | hub RSS before → after (MB) | what the offender saw']
      .concat(
        report.map(
          (r) =>
            `${r.attack} | ${(r.rssBefore / MiB).toFixed(1)} → ${(r.rssAfter / MiB).toFixed(1)} | ${r.offenderSaw}`,
        ),
      )
      .join('\n'),
  );
});

describe('hostile peers against a real hub', () => {
  beforeEachAttack();

  it('one CONTROL frame whose error reply would echo a megabyte: the reply is cut, the hub stays up', async () => {
    const { peer } = await attacker('echo-bomb');
    // As long as a CONTROL frame may be: an error reply quoting it whole would not fit in a frame.
    const huge = 'a'.repeat(MiB - 100);
    peer.control({ op: 'expose', rid: 1, name: huge, targetHost: '127.0.0.1', targetPort: 5 });
    peer.control({ op: huge, rid: 2 });
    peer.control({ op: 'unexpose', rid: 3, name: huge });
    peer.control({ op: 'expose', rid: huge, name: 'x' });
    for (const rid of [1, 2, 3]) {
      const reply = await peer.waitForReply(rid);
      expect(reply.msg).toMatchObject({ ok: false, code: 'BAD_INPUT' });
      expect(String(reply.msg.message).length).toBeLessThan(300);
    }
    // A rid that is not a small integer is never echoed: the reply comes without one.
    const noRid = await peer.waitFor(
      (f) => f.type === FrameType.CONTROL && f.msg.op === 'result' && !('rid' in f.msg),
    );
    expect(noRid.type === FrameType.CONTROL && noRid.msg.message).toMatch(/rid must be an integer/);
    expect(peer.isClosed).toBe(false);
    record('1 MB name/op/rid in CONTROL', `BAD_INPUT replies under 300 bytes, session kept`);
  });

  it('DATA ignoring WINDOW toward a service that does not read: RST FLOW_CONTROL, hub memory bounded', async () => {
    const { peer: server, key } = await attacker('stalled-server');
    await exposeRaw(server, 'stalled');
    server.pauseReading();
    const client = await sibling(key, 'greedy-client');
    client.open(1, 4 * MiB, { service: 'stalled' });
    const bystander = roundTrip(bystanderPort, 8 * MiB); // another tenant, during the attack
    // 256 MiB at a peer that reads nothing: today's hub would hold it all.
    await flood(client, wsMessage(encodeDataFrame(1, Buffer.alloc(128 * 1024, 1))), 2048);
    const rst = await client.waitFor(isRst(1));
    expect(rst).toMatchObject({ code: ResetCode.FLOW_CONTROL });
    expect(rst.type === FrameType.RST && rst.reason).toMatch(/beyond the stream's window of 4194304/);
    const b = await bystander;
    expect(b.received).toBe(b.sent);
    record(
      '256 MiB DATA past the window to a non-reader',
      `RST FLOW_CONTROL "${(rst as { reason: string }).reason}"`,
    );
  });

  it('a receiver that grants WINDOW but does not read is closed with 1008 once its unsent bytes pass the bound', async () => {
    const { peer: liar, key } = await attacker('liar');
    liar.maxKept = 0;
    await exposeRaw(liar, 'liar');
    liar.pauseReading();
    const client = await sibling(key, 'liar-client');
    client.open(1, 4 * MiB, { service: 'liar' });
    const chunk = wsMessage(encodeDataFrame(1, Buffer.alloc(128 * 1024, 2)));
    // The hub's first stream on the liar's session is id 2. The liar grants back every chunk the hub has taken, as
    // if it had read it (a PING after the chunks tells when the hub has: its PONG comes back in order), never more
    // (credit running ahead of what was sent is reset as a WINDOW storm); the client sends only within the credit
    // the hub relays to it. Nothing here breaks flow control: only the liar's socket is never read.
    const grant = wsMessage(encodeFrame({ type: FrameType.WINDOW, streamId: 2, increment: 128 * 1024 }));
    let credit = 4 * MiB;
    let taken = 0;
    let granted = 0;
    let wake: (() => void) | undefined;
    client.onFrame = (f) => {
      if (f.type === FrameType.WINDOW && f.streamId === 1) credit += f.increment;
      if (f.type === FrameType.PONG) taken = f.data.readUInt32BE(4);
      while (granted < taken) {
        liar.writeRaw(grant);
        granted++;
      }
      wake?.();
    };
    let sent = 0;
    while (sent < 2048 && !client.isClosed && !client.frames.some(isRst(1))) {
      if (credit < 128 * 1024) {
        await new Promise<void>((r) => {
          wake = r;
          setTimeout(r, 50);
        });
        continue;
      }
      client.writeRaw(chunk);
      credit -= 128 * 1024;
      sent++;
      const count = Buffer.alloc(8);
      count.writeUInt32BE(sent, 4);
      client.ping(count);
      if (sent % 16 === 0) await client.drained();
    }
    const rst = await client.waitFor(isRst(1), 10_000);
    expect(rst).toMatchObject({ code: ResetCode.SESSION_CLOSED });
    expect(rst.type === FrameType.RST && rst.reason).toMatch(
      /the agent is not reading: \d+ bytes unsent at the hub/,
    );
    liar.resumeReading();
    const closed = await liar.closed;
    expect(closed.code).toBe(1008);
    record('credit granted, socket never read', `close ${closed.code} "${closed.reason}"`);
  });

  it('PINGs from a peer that never reads its PONGs: closed once the PONGs pass the bound', async () => {
    const { peer, key } = await attacker('ping-flood');
    peer.maxKept = 0; // a million PONGs to read back: keep none of them
    peer.pauseReading();
    const pings = Buffer.concat(
      Array.from({ length: 10_000 }, () =>
        wsMessage(encodeFrame({ type: FrameType.PING, streamId: 0, data: Buffer.alloc(8) })),
      ),
    );
    // Until the hub gives up on us (at most 3 million PINGs, 60 MB): loopback's socket buffers take the first
    // ~4 MB of PONGs, the hub's bound (1 MiB here) the next. Then read again, in time for the hub's close frame.
    for (let i = 0; i < 300 && !peer.isClosed; i++) {
      if (!peer.writeRaw(pings)) await peer.drained();
      if (i % 4 === 3 && (await workspaceSessions(key)) === 0) break;
    }
    peer.resumeReading();
    const closed = await peer.closed;
    expect(closed.code).toBe(1008);
    expect(closed.reason).toMatch(/not reading/);
    record('PING flood, PONGs never read', `close ${closed.code} "${closed.reason}"`);
  });

  it('WebSocket PINGs from a peer that never reads: the hub owes one PONG, not one per PING', async () => {
    const { peer } = await attacker('ws-ping-flood');
    peer.pauseReading();
    const pings = Buffer.concat(
      Array.from({ length: 50_000 }, () => wsMessage(Buffer.alloc(0), WsOpcode.PING)),
    );
    for (let i = 0; i < 40; i++) if (!peer.writeRaw(pings)) await peer.drained(); // 2 million, 12 MB
    expect(await health(hub.url)).toBe(true);
    expect(peer.isClosed).toBe(false);
    record('2 million WebSocket PINGs, PONGs never read', 'nothing to read: one PONG owed, session kept');
  });

  it('OPENs waiting for a store lookup: past the backlog they are refused with RST LIMIT', async () => {
    const { peer } = await attacker('open-flood');
    const opens = Array.from({ length: 20 }, (_, i) =>
      encodeFrame({
        type: FrameType.OPEN,
        streamId: 2 * i + 1,
        window: 4 * MiB,
        meta: { service: 'nowhere' },
      }),
    );
    peer.sendFrames(opens); // one write: all arrive before any lookup answers
    const rsts = await Promise.all(opens.map((_, i) => peer.waitFor(isRst(2 * i + 1))));
    const limited = rsts.filter((f) => f.type === FrameType.RST && f.code === ResetCode.LIMIT);
    expect(limited.length).toBeGreaterThanOrEqual(1);
    expect((limited[0] as { reason: string }).reason).toMatch(/8 OPENs of this session are still waiting/);
    expect(
      rsts.filter((f) => f.type === FrameType.RST && f.code === ResetCode.NO_SERVICE).length,
    ).toBeGreaterThanOrEqual(8);
    record('20 OPENs at once to an unknown service', `${limited.length} × RST LIMIT, the rest NO_SERVICE`);
  });

  it('DATA held for OPENs not answered yet is bounded for the whole session', async () => {
    const { peer } = await attacker('pending-bytes');
    const frames: Buffer[] = [];
    for (const id of [1, 3, 5]) {
      frames.push(
        encodeFrame({ type: FrameType.OPEN, streamId: id, window: 4 * MiB, meta: { service: 'nowhere' } }),
      );
      frames.push(encodeDataFrame(id, Buffer.alloc(6000, id)));
    }
    peer.sendFrames(frames);
    const third = await peer.waitFor(isRst(5));
    expect(third).toMatchObject({ code: ResetCode.LIMIT });
    expect((third as { reason: string }).reason).toMatch(
      /more than 16384 bytes sent on streams the hub has not answered/,
    );
    record('18 KB before the OPENs were answered', `RST LIMIT "${(third as { reason: string }).reason}"`);
  });

  it('streams per session: the 17th stream gets RST LIMIT, the first 16 stay open', async () => {
    const { peer: server, key } = await attacker('many-server');
    await exposeRaw(server, 'many');
    const client = await sibling(key, 'many-client');
    client.sendFrames(
      Array.from({ length: 17 }, (_, i) =>
        encodeFrame({
          type: FrameType.OPEN,
          streamId: 2 * i + 1,
          window: 4 * MiB,
          meta: { service: 'many' },
        }),
      ),
    );
    const rst = await client.waitFor(isRst(33));
    expect(rst).toMatchObject({ code: ResetCode.LIMIT });
    expect((rst as { reason: string }).reason).toMatch(/already holds 16 streams \(the hub's limit is 16\)/);
    await server.waitFor((f) => f.type === FrameType.OPEN && f.streamId === 32); // the 16th reached the service
    expect(client.frames.filter((f) => f.type === FrameType.RST)).toHaveLength(1);
    record('17 streams on one session', `RST LIMIT "${(rst as { reason: string }).reason}"`);
  });

  it('a 1 MiB message in 1-byte WebSocket fragments: the session is closed at the fragment limit', async () => {
    const { peer } = await attacker('fragments');
    const message = encodeDataFrame(1, Buffer.alloc(MiB - 6, 3));
    peer.sendFragmented(message, 1);
    const closed = await peer.closed;
    expect(closed.code).toBe(1008);
    expect(closed.reason).toMatch(/more than 1024 fragments/);
    record('1 MiB message as 1,048,576 fragments', `close ${closed.code} "${closed.reason}"`);
  });

  it('a control flood: GOAWAY LIMIT and the session closed', async () => {
    const { peer } = await attacker('control-flood');
    peer.sendFrames(
      Array.from({ length: 50 }, (_, i) =>
        encodeFrame({ type: FrameType.CONTROL, streamId: 0, msg: { op: 'noop', rid: i } }),
      ),
    );
    const goaway = await peer.waitFor((f) => f.type === FrameType.GOAWAY);
    expect(goaway).toMatchObject({ code: ResetCode.LIMIT });
    expect((goaway as { reason: string }).reason).toBe('more than 10 control messages per second (burst 20)');
    await peer.closed;
    record('50 CONTROL messages at once', `GOAWAY LIMIT "${(goaway as { reason: string }).reason}"`);
  });

  it('sessions per key: the 7th upgrade with one key gets 429 and the reason', async () => {
    const { key } = await attacker('sessions-0');
    for (let i = 1; i < 6; i++) await sibling(key, `sessions-${i}`);
    const { agentId } = await registerAgent(hub.url, key, 'sessions-7');
    const refused = await RawPeer.upgradeRaw(hub.url, { apiKey: key, agentId });
    expect(refused.status).toBe(429);
    const body = JSON.parse(refused.body) as { code: string; message: string };
    expect(body).toMatchObject({
      code: 'LIMIT_REACHED',
      message: "this API key already has 6 sessions open (the hub's limit is 6)",
    });
    record('7 sessions under one key', `HTTP 429 ${body.message}`);
  });

  it('a refused upgrade whose client never closes is destroyed by the hub', async () => {
    const socket = await rawSocket();
    socket.write(
      'GET /v1/connect HTTP/1.1\r\nHost: hub\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
        'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nx-connect-protocol: 1\r\n' +
        'x-api-key: tok_0000000000000000_bad\r\nx-agent-id: nobody\r\n\r\n',
    );
    let answer = '';
    socket.on('data', (d: Buffer) => (answer += d.toString()));
    await new Promise((r) => socket.once('end', r)); // the hub's answer and FIN; we keep our side open
    expect(answer).toMatch(/^HTTP\/1\.1 401/);
    // Past the grace the hub has destroyed its socket: what we send now meets a reset, not a listener.
    await new Promise((r) => setTimeout(r, LIMITS['refused-socket-grace-ms'] + 500));
    const reset = new Promise<string>((resolve) => {
      socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
      socket.once('close', () => resolve('closed'));
    });
    socket.write('still here\r\n');
    setTimeout(() => socket.writable && socket.write('still here\r\n'), 100);
    expect(await reset).toMatch(/ECONNRESET|EPIPE|closed/);
    record(
      'refused upgrade, client never closes',
      "401, then destroyed: the client's next write meets a reset",
    );
  });

  it('slow upgrade headers (slowloris on the agent endpoint) are cut at the headers timeout', async () => {
    const socket = await rawSocket();
    socket.write('GET /v1/connect HTTP/1.1\r\nHost: hub\r\n');
    const started = Date.now();
    const timer = setInterval(() => socket.writable && socket.write('x'), 200);
    await new Promise((r) => socket.once('close', r));
    clearInterval(timer);
    const heldMs = Date.now() - started;
    expect(heldMs).toBeLessThan(LIMITS['headers-timeout-ms'] + 2500);
    record('upgrade headers at 5 bytes/s', `socket closed after ${heldMs} ms`);
  });
});

/** Before each attack: note the hub's RSS. After it: the hub is up, within bounds, and the bystander works. */
function beforeEachAttack(): void {
  let before = 0;
  afterEach(async () => {
    for (const p of peers.splice(0)) p.destroy();
    expect(hub.process.child.exitCode).toBeNull();
    expect(await health(hub.url)).toBe(true);
    const after = hubRss(hub.process.pid);
    expect(after - before).toBeLessThan(RSS_BOUND);
    const b = await roundTrip(bystanderPort, 256 * 1024);
    expect(b.received).toBe(b.sent);
  });
  beforeEach(() => {
    before = hubRss(hub.process.pid);
    rssBefore = before;
  });
}

function rawSocket(): Promise<Socket> {
  return new Promise((resolve, reject) => {
    // allowHalfOpen: a client that keeps its side open after the hub's FIN, as a hostile one would.
    const s = connect({ host: '127.0.0.1', port: hub.port, allowHalfOpen: true }, () => resolve(s));
    s.on('error', reject);
  });
}
