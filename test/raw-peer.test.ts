/** The raw hostile-peer client (test/helpers/raw-peer.ts) against a real hub. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FrameType } from '../src/protocol/frames.js';
import { cleanupAll, startTestHub, type TestHub } from './helpers/harness.js';
import { RawPeer, health, hubRss, registerAgent } from './helpers/raw-peer.js';

let hub: TestHub;
let key: string;

beforeAll(async () => {
  hub = await startTestHub();
  key = await hub.createKey('raw-peer');
});
afterAll(cleanupAll);

describe('RawPeer', () => {
  it('connects, gets the welcome, exposes a service and reaches it through the hub', async () => {
    expect(await health(hub.url)).toBe(true);
    expect(hubRss(hub.process.pid)).toBeGreaterThan(1024 * 1024);
    const server = await registerAgent(hub.url, key, 'raw-server');
    const client = await registerAgent(hub.url, key, 'raw-client');
    expect(server.agentId).toMatch(/\S/);

    const exposer = await RawPeer.connect(hub.url, { apiKey: key, agentId: server.agentId });
    const welcome = await exposer.waitFor((f) => f.type === FrameType.CONTROL && f.msg.op === 'welcome');
    expect(welcome).toMatchObject({ msg: { op: 'welcome', agentId: server.agentId } });
    exposer.control({ op: 'expose', rid: 1, name: 'x', targetHost: '127.0.0.1', targetPort: 9 });
    const reply = await exposer.waitForReply(1);
    expect(reply.msg).toMatchObject({ op: 'result', rid: 1, ok: true });

    // The exposer plays the service: it accepts the hub's OPEN and echoes DATA back.
    exposer.onFrame = (f) => {
      if (f.type === FrameType.OPEN) {
        exposer.accept(f.streamId);
        exposer.window(f.streamId, 1);
      } else if (f.type === FrameType.DATA) {
        exposer.data(f.streamId, Buffer.from(f.payload));
      }
    };
    const reacher = await RawPeer.connect(hub.url, {
      apiKey: key,
      agentId: client.agentId,
      kind: 'reach',
    });
    reacher.open(1, 1 << 20, { service: 'x' });
    reacher.data(1, 'hello through the hub');
    const echoed = await reacher.waitFor((f) => f.type === FrameType.DATA && f.streamId === 1);
    expect(echoed.type === FrameType.DATA && echoed.payload.toString()).toBe('hello through the hub');

    // An OPEN for an unknown service gets an RST on that stream.
    reacher.open(3, 1024, { service: 'nope' });
    const rst = await reacher.waitFor((f) => f.type === FrameType.RST && f.streamId === 3);
    expect(rst).toMatchObject({ type: FrameType.RST, streamId: 3 });

    // Broken WebSocket framing (a text message) closes the session with a close code.
    reacher.sendRawWs(Buffer.from([0x81, 0x80, 0, 0, 0, 0]));
    expect((await reacher.closed).code).toBe(1003);

    // Refused upgrades come back as HTTP responses.
    const refused = await RawPeer.upgradeRaw(hub.url, { apiKey: 'tok_bad', agentId: client.agentId });
    expect(refused.status).toBe(401);
    const oldProtocol = await RawPeer.upgradeRaw(hub.url, {
      apiKey: key,
      agentId: client.agentId,
      protocol: '0',
    });
    expect(oldProtocol.status).toBe(426);

    exposer.destroy();
    expect((await exposer.closed).code).toBe(1006);
    expect(exposer.undecodable).toEqual([]);
    expect(await health(hub.url)).toBe(true);
  });
});
