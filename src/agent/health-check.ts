import type { HubConnection } from './hub-connection.js';
import { openServiceStream } from './reacher.js';
import { ResetCode } from '../protocol/frames.js';

export interface CheckResult {
  ok: boolean;
  latencyMs: number;
  reason?: string;
}

/**
 * Dials through the whole path (this agent → hub → exposing agent → target) without opening a listener.
 * Success means the exposing agent connected to the target (ACCEPT), not merely that the hub answered.
 */
export async function checkService(
  conn: HubConnection,
  serviceName: string,
  timeoutMs = 5000,
): Promise<CheckResult> {
  const started = process.hrtime.bigint();
  const elapsed = (): number => Number(process.hrtime.bigint() - started) / 1e6;
  const stream = await openServiceStream(conn, serviceName);
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      stream.reset(ResetCode.TIMEOUT, 'health check timed out');
      resolve({ ok: false, latencyMs: elapsed(), reason: `no answer within ${timeoutMs} ms` });
    }, timeoutMs);
    stream.once('accept', () => {
      clearTimeout(timer);
      const latencyMs = elapsed();
      stream.reset(ResetCode.CANCEL, 'health check done');
      resolve({ ok: true, latencyMs });
    });
    stream.once('reset', (info: { reason: string }) => {
      clearTimeout(timer);
      resolve({ ok: false, latencyMs: elapsed(), reason: info.reason });
    });
  });
}
