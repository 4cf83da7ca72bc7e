import type { Registry } from 'prom-client';
import type { AgentSession, SessionRegistry } from './registry.js';

export interface HubMetrics {
  /**
   * Prometheus text: the caller's workspace's session gauges, then the hub process's own metrics (memory, CPU,
   * event loop), which describe the hub, not any tenant.
   */
  render(workspaceId: string): Promise<{ contentType: string; body: string }>;
}

type Stats = ReturnType<AgentSession['mux']['stats']>;

/** The gauges a workspace may see, read at scrape time from its own live sessions only. */
const GAUGES: { name: string; help: string; read: (sessions: AgentSession[]) => number }[] = [
  { name: 'pc_hub_sessions', help: 'Connected agent sessions of this workspace', read: (s) => s.length },
  {
    name: 'pc_hub_streams',
    help: 'Open streams ending at the hub (tunnel ports) for this workspace',
    read: (s) => sum(s, (x) => x.streams),
  },
  {
    name: 'pc_hub_splices',
    help: 'Agent-to-agent streams the hub relays for this workspace',
    // A splice is registered in both of its sessions: count each once.
    read: (s) => sum(s, (x) => x.splices) / 2,
  },
  {
    name: 'pc_hub_buffered_bytes',
    help: "Bytes the hub holds for this workspace's sessions: queued, unconsumed and in transport buffers",
    read: (s) => sum(s, (x) => x.bufferedBytes),
  },
];

function sum(sessions: AgentSession[], pick: (s: Stats) => number): number {
  return sessions.reduce((acc, s) => acc + pick(s.mux.stats()), 0);
}

/**
 * `pc_hub_buffered_bytes` is what the stalled-reader tests assert on: it must stay bounded by the stream windows
 * whatever a peer does. prom-client (for the process metrics) is loaded on the first scrape: a hub nobody scrapes
 * does not carry it (about 10 MB of RSS).
 */
export function createMetrics(sessions: SessionRegistry): HubMetrics {
  let registry: Promise<Registry> | undefined;
  return {
    async render(workspaceId) {
      registry ??= (async () => {
        const { Registry, collectDefaultMetrics } = await import('prom-client');
        const r = new Registry();
        collectDefaultMetrics({ register: r, prefix: 'pc_hub_' });
        return r;
      })();
      const process = await registry;
      const own = sessions.all().filter((s) => s.workspaceId === workspaceId);
      const gauges = GAUGES.map(
        (g) => `# HELP ${g.name} ${g.help}\n# TYPE ${g.name} gauge\n${g.name} ${g.read(own)}\n`,
      ).join('\n');
      return { contentType: process.contentType, body: `${gauges}\n${await process.metrics()}` };
    },
  };
}
