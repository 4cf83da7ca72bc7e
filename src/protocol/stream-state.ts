/**
 * The life of one multiplexed stream, as one explicit state and one transition table (MuxStream keeps no other
 * record of FINs or resets, so a state the table does not lead to cannot be reached).
 *
 *   OPEN ──end()──> ENDING ──FIN sent──> HALF_CLOSED_LOCAL ──FIN received──┐
 *     │               │                                                     ├─> CLOSING ──'close' emitted──> CLOSED
 *     │               └──FIN received──> ENDING_REMOTE ──FIN sent───────────┘
 *     └──FIN received──> HALF_CLOSED_REMOTE ──end()──> ENDING_REMOTE
 *
 * and a reset (ours, the peer's or the session's) from any state but CLOSED goes straight to CLOSED. end() with
 * nothing queued is end() then FIN sent at once. CLOSING exists because the last FIN is announced ('end' emitted,
 * or the FIN handed to the session) before 'close' is: in between, the stream is not closed yet and may still be
 * reset.
 */

export enum StreamState {
  /** Both directions open. */
  OPEN = 'open',
  /** end() called: our FIN waits behind queued DATA. The peer may still send. */
  ENDING = 'ending',
  /** Our FIN sent; the peer may still send. */
  HALF_CLOSED_LOCAL = 'half-closed-local',
  /** The peer's FIN received; we may still send. */
  HALF_CLOSED_REMOTE = 'half-closed-remote',
  /** The peer's FIN received and end() called: our FIN waits behind queued DATA. */
  ENDING_REMOTE = 'ending-remote',
  /** Both FINs went through; 'close' is about to be emitted. */
  CLOSING = 'closing',
  /** Done: both FINs, or a reset. Final. */
  CLOSED = 'closed',
}

/** What moves a stream from one state to the next. */
export type StreamEvent = 'end' | 'finSent' | 'finReceived' | 'closed' | 'reset';

/** The only transitions there are; an event a state does not list here is refused (see nextStreamState). */
const TRANSITIONS: { readonly [S in StreamState]: { readonly [E in StreamEvent]?: StreamState } } = {
  [StreamState.OPEN]: {
    end: StreamState.ENDING,
    finReceived: StreamState.HALF_CLOSED_REMOTE,
    reset: StreamState.CLOSED,
  },
  [StreamState.ENDING]: {
    finSent: StreamState.HALF_CLOSED_LOCAL,
    finReceived: StreamState.ENDING_REMOTE,
    reset: StreamState.CLOSED,
  },
  [StreamState.HALF_CLOSED_LOCAL]: { finReceived: StreamState.CLOSING, reset: StreamState.CLOSED },
  [StreamState.HALF_CLOSED_REMOTE]: { end: StreamState.ENDING_REMOTE, reset: StreamState.CLOSED },
  [StreamState.ENDING_REMOTE]: { finSent: StreamState.CLOSING, reset: StreamState.CLOSED },
  [StreamState.CLOSING]: { closed: StreamState.CLOSED, reset: StreamState.CLOSED },
  [StreamState.CLOSED]: {},
};

/** The state `event` leads to from `state`, or undefined when it is not a transition of `state`. */
export function nextStreamState(state: StreamState, event: StreamEvent): StreamState | undefined {
  return TRANSITIONS[state][event];
}

/** end() was called (our FIN sent or waiting behind queued data). */
export function isLocalEnded(state: StreamState): boolean {
  return state !== StreamState.OPEN && state !== StreamState.HALF_CLOSED_REMOTE;
}

/** The peer's FIN arrived. */
export function isRemoteEnded(state: StreamState): boolean {
  return (
    state === StreamState.HALF_CLOSED_REMOTE ||
    state === StreamState.ENDING_REMOTE ||
    state === StreamState.CLOSING ||
    state === StreamState.CLOSED
  );
}

/** Our FIN is due once the queued data is out. */
export function isFinPending(state: StreamState): boolean {
  return state === StreamState.ENDING || state === StreamState.ENDING_REMOTE;
}
