import { isConnectError, messageOf } from '../api/errors.js';
import { fail, recordFailure } from './output.js';

/**
 * Wraps a command's action: an expected failure (ConnectError) becomes one `[x]` line plus an optional
 * hint and exit code 1; anything else is a bug, reported on one line too (stack only with CONNECT_DEBUG).
 */
export function action<A extends unknown[]>(
  fn: (...args: A) => Promise<void> | void,
): (...args: A) => Promise<void> {
  return async (...args: A): Promise<void> => {
    try {
      await fn(...args);
    } catch (err) {
      reportAndExit(err);
    }
  };
}

export function reportAndExit(err: unknown): never {
  if (isConnectError(err)) {
    // An error that lists several problems (a config file's, one per line) gets one `[x]` line each.
    const lines = err.message.split('\n');
    lines.forEach((text, i) => fail(text, i === lines.length - 1 ? err.hint : undefined));
    recordFailure(err.message, err.hint);
  } else {
    fail(`unexpected error: ${messageOf(err)}`);
    recordFailure(`unexpected error: ${messageOf(err)}`);
    if (process.env.CONNECT_DEBUG && err instanceof Error && err.stack)
      process.stderr.write(err.stack + '\n');
  }
  process.exit(1);
}
