/**
 * How the proxy reaches a route's service. A local route is dialled at 127.0.0.1:<port>; a hub service is a stream
 * opened through this process's OWN session with the hub (openServiceStream), never the hub's tunnel port, so the
 * proxy works when the hub is on another machine. Plain requests go through keep-alive http.Agents (the ordinary one
 * for local routes, one per hub service whose createConnection() opens a MuxStream wrapped in a MuxDuplex: no loopback
 * hop, and a reset's reason reaches the 502 page); upgrades get a raw byte stream.
 */
import http from 'node:http';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import type { HubConnection } from '../agent/hub-connection.js';
import { openServiceStream } from '../agent/reacher.js';
import type { ServiceName } from '../api/service-name.js';
import { MuxDuplex, UpstreamError } from './mux-duplex.js';
import type { RouteTarget } from './route-table.js';

/** Where node:http sends a request for a route. */
export interface RequestTarget {
  agent: http.Agent;
  host: string;
  port: number;
}

export class Upstreams {
  private readonly localAgent = new http.Agent({ keepAlive: true, maxFreeSockets: 32 });
  private readonly hubAgents = new Map<ServiceName, http.Agent>();

  /** `conn`: the proxy's own hub session (kind 'proxy'); without it hub routes answer 502. */
  constructor(private readonly conn: HubConnection | undefined) {}

  requestTarget(route: RouteTarget): RequestTarget {
    if (route.source === 'local') return { agent: this.localAgent, host: route.host, port: route.port };
    // The host only names the agent's pool; the connection is the hub stream its createConnection() opens.
    return { agent: this.hubAgent(route.service), host: route.service, port: 80 };
  }

  /** A raw byte stream to the route's service (an upgrade's tunnel); rejects when no hub stream can be opened. */
  async connect(route: RouteTarget): Promise<Duplex> {
    if (route.source === 'local') return net.connect({ host: route.host, port: route.port, noDelay: true });
    return this.openHubStream(route.service);
  }

  destroy(): void {
    this.localAgent.destroy();
    for (const agent of this.hubAgents.values()) agent.destroy();
  }

  private async openHubStream(service: ServiceName): Promise<Duplex> {
    if (!this.conn) throw new UpstreamError('this proxy is not connected to a hub');
    return new MuxDuplex(await openServiceStream(this.conn, service));
  }

  private hubAgent(service: ServiceName): http.Agent {
    let agent = this.hubAgents.get(service);
    if (agent) return agent;
    agent = new http.Agent({ keepAlive: true, maxFreeSockets: 16 });
    agent.createConnection = (_options, callback): undefined => {
      const done = callback as (err: Error | null, socket?: Duplex) => void;
      this.openHubStream(service).then(
        (stream) => done(null, stream),
        (err: unknown) => done(err instanceof Error ? err : new Error(String(err))),
      );
      return undefined;
    };
    this.hubAgents.set(service, agent);
    return agent;
  }
}
