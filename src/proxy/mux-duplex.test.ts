import { afterEach, describe, expect, it } from 'vitest';
import http from 'node:http';
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { MemoryLink } from '../protocol/memory-link.js';
import { MuxSession, type OpenRequest } from '../protocol/session.js';
import { ResetCode } from '../protocol/frames.js';
import type { MuxStream } from '../protocol/stream.js';
import { MuxDuplex, UpstreamError } from './mux-duplex.js';

const quiet = { pingIntervalMs: 0, deadAfterMs: 0 };
const WINDOW = 256 * 1024;

function pair(): { a: MuxSession; b: MuxSession } {
  const link = new MemoryLink({ auto: true });
  const a = new MuxSession({ sink: link.ab, role: 'client', label: 'A', initialWindow: WINDOW, ...quiet });
  const b = new MuxSession({ sink: link.ba, role: 'server', label: 'B', initialWindow: WINDOW, ...quiet });
  link.connect(a, b);
  return { a, b };
}

const closers: (() => void)[] = [];
afterEach(() => closers.splice(0).forEach((c) => c()));

/** An HTTP server on the B side: every stream B accepts is handed to it as a connection. */
function serveOver(b: MuxSession, handler: http.RequestListener): void {
  const server = http.createServer(handler);
  b.on('open', (req: OpenRequest) => server.emit('connection', new MuxDuplex(req.accept())));
  closers.push(() => server.close());
}

function get(a: MuxSession, path: string, body?: Readable): Promise<{ status: number; data: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        path,
        method: body ? 'POST' : 'GET',
        createConnection: () => new MuxDuplex(a.openStream({ service: 'x' })),
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, data: Buffer.concat(chunks) }));
      },
    );
    req.on('error', reject);
    if (body) body.pipe(req);
    else req.end();
  });
}

describe('MuxDuplex', () => {
  it('carries an HTTP request and response over a MuxStream', async () => {
    const { a, b } = pair();
    serveOver(b, (req, res) => res.end(`hello ${req.url}`));
    const r = await get(a, '/there');
    expect(r.status).toBe(200);
    expect(r.data.toString()).toBe('hello /there');
  });

  it('streams a body many windows long both ways, intact', async () => {
    const { a, b } = pair();
    serveOver(b, (req, res) => req.pipe(res));
    const total = 8 * 1024 * 1024;
    const chunks = Array.from({ length: total / 65536 }, (_, i) => Buffer.alloc(65536, i % 251));
    const r = await get(a, '/echo', Readable.from(chunks));
    expect(r.data.length).toBe(total);
    const hash = (bufs: Buffer[]): string =>
      bufs.reduce((h, c) => h.update(c), createHash('sha256')).digest('hex');
    expect(hash([r.data])).toBe(hash(chunks));
  });

  it('grants window only as the reader consumes (memory bounded by the window)', async () => {
    const { a, b } = pair();
    let sender: MuxStream | undefined;
    b.on('open', (req: OpenRequest) => {
      sender = req.accept();
      for (let i = 0; i < 64; i++) sender.write(Buffer.alloc(64 * 1024));
    });
    const stream = a.openStream({ service: 'x' });
    const duplex = new MuxDuplex(stream);
    duplex.pause();
    // Let the sender run until it is stalled on credit.
    for (
      let i = 0;
      i < 100 && (stream.unconsumedBytes < WINDOW / 2 || (sender?.queuedBytes ?? 0) === 0);
      i++
    ) {
      await new Promise((r) => setTimeout(r, 10));
    }
    await new Promise((r) => setTimeout(r, 50));
    // Nothing read: the peer stopped at our window, far below the 4 MB it wants to send.
    expect(stream.unconsumedBytes).toBeLessThanOrEqual(WINDOW);
    expect(sender?.queuedBytes).toBeGreaterThan(3 * 1024 * 1024);
    let received = 0;
    duplex.on('data', (c: Buffer) => (received += c.length));
    duplex.resume();
    for (let i = 0; i < 500 && received < 64 * 64 * 1024; i++) await new Promise((r) => setTimeout(r, 10));
    expect(received).toBe(64 * 64 * 1024);
  });

  it('turns a reset into an UpstreamError carrying the reason, and a destroy into a reset', async () => {
    const { a, b } = pair();
    let far: MuxStream | undefined;
    const resets: string[] = [];
    b.on('open', (req: OpenRequest) => {
      far = req.accept();
      far.on('reset', (r: { reason: string }) => resets.push(r.reason));
    });
    const d1 = new MuxDuplex(a.openStream({ service: 'x' }));
    const err = new Promise<Error>((resolve) => d1.once('error', resolve));
    await new Promise((r) => setTimeout(r, 10));
    far?.reset(ResetCode.REFUSED, 'connect ECONNREFUSED 127.0.0.1:1');
    const e = await err;
    expect(e).toBeInstanceOf(UpstreamError);
    expect(e.message).toBe('connect ECONNREFUSED 127.0.0.1:1');

    const d2 = new MuxDuplex(a.openStream({ service: 'x' }));
    await new Promise((r) => setTimeout(r, 10));
    d2.destroy();
    await new Promise((r) => setTimeout(r, 10));
    expect(resets).toEqual(['closed by the proxy']);
  });
});
