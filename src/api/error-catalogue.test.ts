import { describe, expect, it } from 'vitest';
import { MuxSession } from '../protocol/session.js';
import { MemoryPipe } from '../protocol/memory-link.js';
import { encodeFrame, FrameType } from '../protocol/frames.js';
import { ERROR_CATALOGUE, closeCodeOf, httpStatusOf } from './error-catalogue.js';
import { ErrorCodes } from './errors.js';

const quiet = { pingIntervalMs: 0, deadAfterMs: 0 };

describe('the error catalogue', () => {
  it('gives every code an HTTP error status', () => {
    for (const code of Object.values(ErrorCodes)) {
      expect(ERROR_CATALOGUE[code], code).toBeDefined();
      expect(httpStatusOf(code), code).toBeGreaterThanOrEqual(400);
      expect(httpStatusOf(code), code).toBeLessThan(600);
    }
    // The two the issue named: neither may pass for a client's mistake.
    expect(httpStatusOf(ErrorCodes.INTERNAL)).toBe(500);
    expect(httpStatusOf(ErrorCodes.TIMEOUT)).not.toBe(400);
  });

  // The session (src/protocol, which may not import this table) picks its close codes itself: these keep the two
  // in agreement, by driving a real session into each failure.
  it('says the close code a session uses for a malformed frame', () => {
    const pipe = new MemoryPipe(false);
    const session = new MuxSession({ sink: pipe, role: 'server', ...quiet });
    session.receive(Buffer.from([42, 0, 0, 0, 0, 0]));
    expect(pipe.closes[0]?.code).toBe(closeCodeOf(ErrorCodes.PROTOCOL_ERROR));
  });

  it('says the close code a session uses when its own handler fails', () => {
    const pipe = new MemoryPipe(false);
    const session = new MuxSession({ sink: pipe, role: 'server', ...quiet });
    session.on('control', () => {
      throw new Error('a bug in the handler');
    });
    session.on('error', () => undefined);
    session.receive(encodeFrame({ type: FrameType.CONTROL, streamId: 0, msg: { op: 'x' } }));
    expect(pipe.closes[0]?.code).toBe(closeCodeOf(ErrorCodes.INTERNAL));
  });
});
