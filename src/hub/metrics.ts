import { Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { SessionRegistry } from './registry.js';

/**
 * Prometheus gauges read at scrape time from the live sessions. `pc_hub_buffered_bytes` is what the
 * stalled-reader tests assert on: it must stay bounded by the stream windows whatever a peer does.
 */
export function createMetrics(registry: SessionRegistry): Registry {
  const metrics = new Registry();
  collectDefaultMetrics({ register: metrics, prefix: 'pc_hub_' });
  const sum = (pick: (s: ReturnType<SessionRegistry['all']>[number]['mux']) => number): number =>
    registry.all().reduce((acc, s) => acc + pick(s.mux), 0);
  new Gauge({
    name: 'pc_hub_sessions',
    help: 'Connected agent sessions',
    registers: [metrics],
    collect() {
      this.set(registry.all().length);
    },
  });
  new Gauge({
    name: 'pc_hub_streams',
    help: 'Open streams ending at the hub (tunnel ports)',
    registers: [metrics],
    collect() {
      this.set(sum((m) => m.stats().streams));
    },
  });
  new Gauge({
    name: 'pc_hub_splices',
    help: 'Agent-to-agent streams relayed by the hub',
    registers: [metrics],
    collect() {
      this.set(sum((m) => m.stats().splices));
    },
  });
  new Gauge({
    name: 'pc_hub_buffered_bytes',
    help: 'Bytes held by the hub for all sessions: queued, unconsumed and in transport buffers',
    registers: [metrics],
    collect() {
      this.set(sum((m) => m.stats().bufferedBytes));
    },
  });
  return metrics;
}
