import { amqpProber } from './amqp.js';
import { Conversation } from './conversation.js';
import { httpProber } from './http.js';
import { memcachedProber } from './memcached.js';
import { mongodbProber } from './mongodb.js';
import { mqttProber } from './mqtt.js';
import { mysqlGreeting } from './mysql.js';
import { natsGreeting } from './nats.js';
import { postgresProber } from './postgres.js';
import type { ClientFirstProber, GreetingParser } from './probe.js';
import { printable } from './probe.js';
import { redisProber } from './redis.js';
import { sshGreeting } from './ssh.js';
import { tlsProber } from './tls.js';
import { now, type Identification, type Target } from './types.js';

export const GREETINGS: readonly GreetingParser[] = [sshGreeting, mysqlGreeting, natsGreeting];

/**
 * The order in which client-first probes are tried on a port that stays silent. Measured against the real
 * servers: newline-terminated text requests come first because text servers (Redis, memcached) wait for a
 * newline and would sit out a binary probe until its timeout, while binary servers (PostgreSQL, AMQP, MQTT,
 * TLS) reject text at once. Redis leads because an HTTP request with a `Host:` line makes it log a security
 * warning; HTTP comes next as the most common service on an unknown port. MongoDB precedes PostgreSQL and TLS
 * because mongod waits for a full 16-byte header (longer than an SSLRequest) and reads a ClientHello's first
 * bytes as a plausible message length, while those servers reject an OP_MSG at once.
 */
export const CLIENT_FIRST: readonly ClientFirstProber[] = [
  redisProber,
  httpProber,
  memcachedProber,
  mongodbProber,
  postgresProber,
  tlsProber,
  amqpProber,
  mqttProber,
];

export interface IdentifyOptions {
  /** The whole identification of one port ends by this many milliseconds, whatever the service does. */
  timeoutMs: number;
  probers?: readonly ClientFirstProber[];
}

/** Reads a greeting: the first parser that recognises the bytes. */
export function parseGreeting(data: Buffer): Identification | null {
  for (const parser of GREETINGS) {
    const match = parser.parse(data);
    if (match) return match;
  }
  return null;
}

/** Probes whose usual port this is go first: the port only orders the work, the answer still decides. */
export function probeOrder(
  port: number,
  probers: readonly ClientFirstProber[] = CLIENT_FIRST,
): ClientFirstProber[] {
  const hinted = probers.filter((p) => p.hintPorts.includes(port));
  return [...hinted, ...probers.filter((p) => !hinted.includes(p))];
}

/**
 * Identifies the service on one open port, or returns null when the port no longer accepts connections.
 *
 * 1. Connect and listen for a greeting (SSH, MySQL, NATS speak first). An unknown greeting is kept as the
 *    `tcp` details; a connection closed at once is `tcp` too.
 * 2. Otherwise try each client-first probe on a fresh connection. Each gets a slice of the budget, so a silent
 *    port or one that sits on a wrong request cannot eat the time the right probe needs; the whole thing ends by
 *    `timeoutMs`.
 */
export async function identify(target: Target, options: IdentifyOptions): Promise<Identification | null> {
  const start = now();
  const deadline = start + options.timeoutMs;
  const first = await Conversation.open(target, deadline);
  if (!first) return null;
  const rtt = now() - start;
  let greeting: Buffer;
  let closedAtOnce: boolean;
  try {
    // Servers that speak first do so within a round trip or two; allow generously for a loaded machine.
    const listen = Math.min(options.timeoutMs / 4, 150 + 4 * rtt);
    const reply = await first.until((data) => parseGreeting(data) !== null, now() + listen);
    greeting = reply.data;
    closedAtOnce = reply.closed && reply.data.length === 0;
  } finally {
    first.close();
  }
  if (greeting.length > 0) {
    return parseGreeting(greeting) ?? { type: 'tcp', details: bannerDetails(greeting) };
  }
  if (closedAtOnce) return { type: 'tcp', details: 'closes connections at once' };

  const probers = probeOrder(target.port, options.probers);
  // A probe normally settles in a few round trips; the slice only matters for servers that sit on bad input.
  const slice = Math.max(options.timeoutMs / 4, 100 + 10 * rtt);
  let fallback: Identification | null = null;
  for (const prober of probers) {
    const left = deadline - now();
    if (left <= 0) break;
    const outcome = await prober.probe(target, now() + Math.min(slice, left));
    if (outcome.match && !outcome.match.tentative) return outcome.match;
    fallback ??= outcome.match;
    // A server that only greets late (a slow MySQL, say) shows its greeting in the reply to a probe.
    const late = outcome.reply && outcome.reply.length > 0 ? parseGreeting(outcome.reply) : null;
    if (late) return late;
  }
  return fallback ?? { type: 'tcp', details: '' };
}

function bannerDetails(greeting: Buffer): string {
  const firstLine = greeting.toString('latin1').split(/\r?\n/)[0] ?? '';
  const text = printable(firstLine, 60);
  return text ? `banner: ${text}` : '';
}
