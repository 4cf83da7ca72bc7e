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

/** Agent log lines (`up`, `reach`, `expose`, the daemon), time-stamped as the daemon seed shows them. */
export function agentLog(level: 'info' | 'warn' | 'error', message: string): void {
  const out = level === 'info' ? process.stdout : process.stderr;
  out.write(`${timestamp()} ${message}\n`);
}
