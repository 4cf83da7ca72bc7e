import type { Registry } from 'prom-client';
import type { SessionRegistry } from './registry.js';

export interface HubMetrics {
  /** The Prometheus text exposition of the hub's gauges and process metrics. */
  render(): Promise<{ contentType: string; body: string }>;
}

/**
 * Prometheus gauges read at scrape time from the live sessions. `pc_hub_buffered_bytes` is what the
 * stalled-reader tests assert on: it must stay bounded by the stream windows whatever a peer does.
 * prom-client is loaded on the first scrape: a hub nobody scrapes does not carry it (about 10 MB of RSS).
 */
export function createMetrics(sessions: SessionRegistry): HubMetrics {
  let registry: Promise<Registry> | undefined;
  return {
    async render() {
      registry ??= build(sessions);
      const metrics = await registry;
      return { contentType: metrics.contentType, body: await metrics.metrics() };
    },
  };
}

async function build(sessions: SessionRegistry): Promise<Registry> {
  const { Gauge, Registry, collectDefaultMetrics } = await import('prom-client');
  const metrics = new Registry();
  collectDefaultMetrics({ register: metrics, prefix: 'pc_hub_' });
  type Stats = ReturnType<ReturnType<SessionRegistry['all']>[number]['mux']['stats']>;
  const sum = (pick: (s: Stats) => number): number =>
    sessions.all().reduce((acc, s) => acc + pick(s.mux.stats()), 0);
  const gauge = (name: string, help: string, read: () => number): void => {
    new Gauge({
      name,
      help,
      registers: [metrics],
      collect() {
        this.set(read());
      },
    });
  };
  gauge('pc_hub_sessions', 'Connected agent sessions', () => sessions.all().length);
  gauge('pc_hub_streams', 'Open streams ending at the hub (tunnel ports)', () => sum((s) => s.streams));
  // A splice is registered in both of its sessions: count each once.
  gauge('pc_hub_splices', 'Agent-to-agent streams relayed by the hub', () => sum((s) => s.splices) / 2);
  gauge(
    'pc_hub_buffered_bytes',
    'Bytes held by the hub for all sessions: queued, unconsumed and in transport buffers',
    () => sum((s) => s.bufferedBytes),
  );
  return metrics;
}
