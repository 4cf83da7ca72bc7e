/**
 * The hub serves every workspace: a bug reached by one peer's input must cost that peer's request or session, not
 * every tenant's connections. Every handler catches its own failures (gateway, control, session); this is the net
 * under them: an exception or rejection that still escapes is logged with its stack and the process keeps running.
 *
 * Node's default (exit on an uncaught exception) is right for a process whose state a bug may have corrupted; the
 * hub's state is per session and each failing handler has already torn its session down, so staying up is the
 * lesser harm. The counter lets /health and tests see that it happened.
 */
import type { Logger } from 'pino';

let escaped = 0;

/** How many exceptions and rejections reached the guard since the process started. */
export function escapedFailures(): number {
  return escaped;
}

export function installCrashGuards(log: Logger): void {
  process.on('uncaughtException', (err: Error, origin: string) => {
    escaped++;
    log.error(
      { err: err.message, stack: err.stack, origin },
      'uncaught exception in a handler; the hub keeps running',
    );
  });
  process.on('unhandledRejection', (reason: unknown) => {
    escaped++;
    const err = reason instanceof Error ? reason : new Error(String(reason));
    log.error(
      { err: err.message, stack: err.stack },
      'unhandled rejection in a handler; the hub keeps running',
    );
  });
}
