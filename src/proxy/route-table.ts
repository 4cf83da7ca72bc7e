/**
 * The proxy's route table (seed 000, "Route Table Management"): every service of the workspace at the hub, then the
 * local routes of `connect reach` / `connect dev` (~/.connect/active-routes.json), which win over a hub service of
 * the same name. Names are matched case-insensitively on the first DNS label of the request's host.
 */
import { isIP } from 'node:net';
import type { ServiceView } from '../agent/hub-api.js';
import type { ActiveRoute } from '../config/active-routes.js';

export interface RouteTarget {
  /** The service's name as registered (original case). */
  name: string;
  /** `hub`: reached through the proxy's own session with the hub. `local`: dialled at 127.0.0.1:port. */
  source: 'hub' | 'local';
  host: string;
  /** The local port of a `local` route; the hub's tunnel port of a `hub` route (informational only). */
  port: number;
  /** A hub service's status at the last refresh. */
  status?: 'online' | 'offline';
  /** The process that holds a local route. */
  pid?: number;
}

export type RouteTable = Map<string, RouteTarget>;

export function buildRouteTable(
  hubServices: readonly ServiceView[],
  activeRoutes: readonly ActiveRoute[],
): RouteTable {
  const table: RouteTable = new Map();
  for (const s of hubServices) {
    table.set(s.name.toLowerCase(), {
      name: s.name,
      source: 'hub',
      host: '127.0.0.1',
      port: s.tunnelPort,
      status: s.status,
    });
  }
  for (const r of activeRoutes) {
    table.set(r.serviceName.toLowerCase(), {
      name: r.serviceName,
      source: 'local',
      host: '127.0.0.1',
      port: r.localPort,
      pid: r.pid,
    });
  }
  return table;
}

/** The host name of a Host header, without the port and IPv6 brackets, lower-cased. */
export function hostnameOf(hostHeader: string): string {
  const text = hostHeader.trim().toLowerCase();
  if (text.startsWith('[')) return text.slice(1, text.indexOf(']') === -1 ? undefined : text.indexOf(']'));
  const colon = text.lastIndexOf(':');
  const host = colon === -1 || text.indexOf(':') !== colon ? text : text.slice(0, colon);
  return host.endsWith('.') ? host.slice(0, -1) : host;
}

/**
 * The service name a Host header asks for (`backend-api.localhost:9999` → `backend-api`), or undefined when it
 * names the proxy itself (`localhost`, an IP address, no host): those requests get the proxy's index page.
 */
export function serviceNameOf(hostHeader: string | undefined): string | undefined {
  if (!hostHeader) return undefined;
  const host = hostnameOf(hostHeader);
  if (host === '' || host === 'localhost' || isIP(host) !== 0) return undefined;
  return host.split('.')[0] || undefined;
}

export function findRoute(routes: RouteTable, hostHeader: string | undefined): RouteTarget | null {
  const name = serviceNameOf(hostHeader);
  return name === undefined ? null : (routes.get(name) ?? null);
}

/** Route names for listings: sorted, with where each one leads. */
export function describeRoutes(
  routes: RouteTable,
): { name: string; source: 'hub' | 'local'; target: string; status?: string }[] {
  return [...routes.values()]
    .sort((a, b) => a.name.localeCompare(b.name))
    .map((r) => ({
      name: r.name,
      source: r.source,
      target: r.source === 'local' ? `localhost:${r.port}` : 'hub',
      ...(r.status && { status: r.status }),
    }));
}
