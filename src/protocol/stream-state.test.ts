import { describe, expect, it } from 'vitest';
import {
  isFinPending,
  isLocalEnded,
  isRemoteEnded,
  nextStreamState,
  StreamState,
  type StreamEvent,
} from './stream-state.js';

const EVENTS: StreamEvent[] = ['end', 'finSent', 'finReceived', 'closed', 'reset'];
const STATES = Object.values(StreamState);

describe('StreamState', () => {
  it('reaches every state from OPEN, and CLOSED from every state', () => {
    const seen = new Set<StreamState>([StreamState.OPEN]);
    for (let grew = true; grew;) {
      grew = false;
      for (const s of [...seen]) {
        for (const e of EVENTS) {
          const next = nextStreamState(s, e);
          if (next !== undefined && !seen.has(next)) {
            seen.add(next);
            grew = true;
          }
        }
      }
    }
    expect([...seen].sort()).toEqual([...STATES].sort());
    for (const s of STATES) {
      if (s !== StreamState.CLOSED) expect(nextStreamState(s, 'reset')).toBe(StreamState.CLOSED);
    }
  });

  it('CLOSED is final', () => {
    for (const e of EVENTS) expect(nextStreamState(StreamState.CLOSED, e)).toBeUndefined();
  });

  it('a FIN goes each way once, and end() is taken once', () => {
    for (const s of STATES) {
      // Only a state whose peer has not ended takes the peer's FIN; only one not ended locally takes end().
      expect(nextStreamState(s, 'finReceived') !== undefined).toBe(!isRemoteEnded(s));
      expect(nextStreamState(s, 'end') !== undefined).toBe(!isLocalEnded(s));
      // Our FIN goes out only when it was waiting for the queue.
      expect(nextStreamState(s, 'finSent') !== undefined).toBe(isFinPending(s));
    }
  });

  it('follows both orders of the two FINs to CLOSING, then CLOSED', () => {
    const run = (events: StreamEvent[]): StreamState | undefined =>
      events.reduce<StreamState | undefined>((s, e) => s && nextStreamState(s, e), StreamState.OPEN);
    expect(run(['end', 'finSent', 'finReceived'])).toBe(StreamState.CLOSING);
    expect(run(['finReceived', 'end', 'finSent'])).toBe(StreamState.CLOSING);
    expect(run(['end', 'finReceived', 'finSent', 'closed'])).toBe(StreamState.CLOSED);
  });
});
