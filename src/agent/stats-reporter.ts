import type { HubConnection } from './hub-connection.js';

/**
 * With CONNECT_STATS_INTERVAL_MS set, prints one JSON line of session and process figures to stderr at that
 * interval: how the end-to-end tests (and an operator) see what an agent holds in memory.
 */
export function reportStatsPeriodically(conn: HubConnection): void {
  const interval = Number(process.env.CONNECT_STATS_INTERVAL_MS);
  if (!Number.isFinite(interval) || interval <= 0) return;
  setInterval(() => {
    const session = conn.session?.stats();
    process.stderr.write(JSON.stringify({ stats: { ...session, rss: process.memoryUsage().rss } }) + '\n');
  }, interval).unref();
}
