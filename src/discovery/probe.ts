import type { Identification, Target } from './types.js';

/** What a client-first probe saw: a match, and the raw reply so that a late server greeting is still recognised. */
export interface ProbeOutcome {
  match: Identification | null;
  reply?: Buffer;
}

/** A protocol where the client speaks first: the probe sends a harmless request on a fresh connection. */
export interface ClientFirstProber {
  readonly name: string;
  /** Ports where this protocol usually lives: tried first there, but the answer still decides. */
  readonly hintPorts: readonly number[];
  probe(target: Target, deadline: number): Promise<ProbeOutcome>;
}

/** A protocol where the server speaks first (SSH, MySQL, NATS): recognised from the greeting alone. */
export interface GreetingParser {
  readonly name: string;
  /** Returns null until the bytes are a complete greeting of this protocol. */
  parse(data: Buffer): Identification | null;
}

/**
 * Text safe for a terminal, at most `max` characters: banners and titles come from the network, so control
 * characters (escape sequences included) become spaces; other Unicode is kept, titles are often not English.
 */
export function printable(text: string, max = 80): string {
  // eslint-disable-next-line no-control-regex
  const clean = text.replace(/[\u0000-\u001f\u007f-\u009f\s]+/g, ' ').trim();
  return clean.length > max ? clean.slice(0, max - 1) + '…' : clean;
}
