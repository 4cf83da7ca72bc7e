import { pino, type Logger } from 'pino';

export type { Logger } from 'pino';

/** Structured JSON logs (pino). Level from CONNECT_LOG_LEVEL, default info; 'silent' for embedding in tests. */
export function createLogger(name: string, level = process.env.CONNECT_LOG_LEVEL ?? 'info'): Logger {
  return pino({ name, level, base: { pid: process.pid } });
}
