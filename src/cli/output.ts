import { writeSync } from 'node:fs';
import {
  lineOf,
  renderAgentEvent,
  type AgentEvent,
  type AgentEventRecord,
  type AgentEventSink,
  type LogLevel,
} from '../agent/agent-events.js';

/**
 * Human output in the seeds' style: `[ok]`, `[x]`, `[!]` markers, colour only on a TTY and never with NO_COLOR.
 * Commands print through these helpers so that the style stays the same everywhere.
 */
const useColour = (stream: NodeJS.WriteStream): boolean =>
  Boolean(stream.isTTY) && process.env.NO_COLOR === undefined && process.env.TERM !== 'dumb';

const paint = (code: number, text: string, stream: NodeJS.WriteStream = process.stdout): string =>
  useColour(stream) ? `\u001b[${code}m${text}\u001b[0m` : text;

export const colour = {
  green: (t: string): string => paint(32, t),
  red: (t: string): string => paint(31, t, process.stderr),
  yellow: (t: string): string => paint(33, t),
  dim: (t: string): string => paint(2, t),
  bold: (t: string): string => paint(1, t),
};

export function line(text = ''): void {
  process.stdout.write(text + '\n');
}

export function ok(text: string): void {
  line(`${colour.green('[ok]')} ${text}`);
}

export function warn(text: string): void {
  line(`${colour.yellow('[!]')} ${text}`);
}

/** Failures go to stderr so that `--json` output on stdout stays parseable. */
export function fail(text: string, hint?: string): void {
  process.stderr.write(`${colour.red('[x]')} ${text}\n`);
  if (hint) process.stderr.write(`  ${hint}\n`);
}

export function printJson(value: unknown): void {
  process.stdout.write(JSON.stringify(value, null, 2) + '\n');
}

/** A local time stamp `[HH:MM:SS]`, as the daemon log in the seed shows. */
export function timestamp(date = new Date()): string {
  const pad = (n: number): string => String(n).padStart(2, '0');
  return `[${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}]`;
}

/**
 * The event channel: a file descriptor named by CONNECT_EVENTS_FD (a test harness, or the proxy manager starting a
 * background proxy, opens it) receives one JSON record per agent event. Taken out of the environment so that a
 * process this one starts (the daemon, a background proxy) never writes into a descriptor it did not get.
 */
const eventFd = ((): number | undefined => {
  const fd = Number(process.env.CONNECT_EVENTS_FD);
  delete process.env.CONNECT_EVENTS_FD;
  return Number.isInteger(fd) && fd > 2 ? fd : undefined;
})();
let eventChannelOpen = eventFd !== undefined;

function writeRecord(record: AgentEventRecord): void {
  if (!eventChannelOpen || eventFd === undefined) return;
  try {
    writeSync(eventFd, JSON.stringify(record) + '\n');
  } catch (err) {
    // A full non-blocking pipe drops this one record; a reader gone for good (the manager that started a
    // background proxy has exited) closes the channel. The log lines go on either way.
    if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') eventChannelOpen = false;
  }
}

/** Agent log lines (`up`, `reach`, `expose`, the daemon), time-stamped as the daemon seed shows them. */
function agentLog(level: LogLevel, message: string): void {
  const out = level === 'info' ? process.stdout : process.stderr;
  out.write(`${timestamp()} ${message}\n`);
}

/**
 * A sink that renders agent events into the seeds' log lines and records each on the event channel. Events
 * `hidden` says are kept off the log (a command that prints its own summary instead), not off the channel.
 */
export function agentEvents(hidden: (event: AgentEvent) => boolean = () => false): AgentEventSink {
  return (event) => {
    const rendered = renderAgentEvent(event);
    const shown = !hidden(event);
    if (shown) agentLog(rendered.level, lineOf(rendered));
    // Built only when someone listens: the exposer emits one event per connection it dials.
    if (eventChannelOpen) writeRecord({ time: new Date().toISOString(), ...rendered, shown, event });
  };
}

/** Records an event on the event channel only: the command printed its own words for it. */
export function recordEvent(event: AgentEvent): void {
  if (eventChannelOpen)
    writeRecord({ time: new Date().toISOString(), ...renderAgentEvent(event), shown: false, event });
}

/** Records a command's final failure on the event channel (its `[x]` line is printed by `fail`). */
export function recordFailure(message: string, hint?: string): void {
  recordEvent({ type: 'command-failed', message, ...(hint !== undefined && { hint }) });
}
