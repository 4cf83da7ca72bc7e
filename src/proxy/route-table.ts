/**
 * The proxy's route table (seed 000, "Route Table Management"): every service of the workspace at the hub, then the
 * local routes of `connect reach` / `connect dev` (~/.connect/active-routes.json), which win over a hub service of
 * the same name. Routes are keyed by ServiceName, so `Backend-API` and `backend-api` are one route; a Host asks for
 * the route named by its first DNS label.
 */
import { isIP } from 'node:net';
import type { ServiceView } from '../api/views.js';
import type { ActiveRoute } from '../config/active-routes.js';
import { parseServiceName, type ServiceName } from '../api/service-name.js';

export interface RouteTarget {
  /** The service's name as registered (what listings show). */
  name: string;
  /** The name the route is keyed by, and the service a hub stream is opened for. */
  service: ServiceName;
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

export type RouteTable = Map<ServiceName, RouteTarget>;

/**
 * A name from the hub, the routes file or a Host label as the ServiceName a route is keyed by; undefined when it is
 * not a valid name, which no route can have.
 */
export function routeNameOf(value: string): ServiceName | undefined {
  try {
    return parseServiceName(value);
  } catch {
    return undefined;
  }
}

function addRoute(table: RouteTable, target: Omit<RouteTarget, 'service' | 'host'>): void {
  const service = routeNameOf(target.name);
  if (service) table.set(service, { ...target, service, host: '127.0.0.1' });
}

export function buildRouteTable(
  hubServices: readonly ServiceView[],
  activeRoutes: readonly ActiveRoute[],
): RouteTable {
  const table: RouteTable = new Map();
  for (const s of hubServices) {
    addRoute(table, { name: s.name, source: 'hub', port: s.tunnelPort, status: s.status });
  }
  for (const r of activeRoutes) {
    addRoute(table, { name: r.serviceName, source: 'local', port: r.localPort, pid: r.pid });
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
 * The service label a Host header asks for (`backend-api.localhost:9999` → `backend-api`), or undefined when it
 * names the proxy itself (`localhost`, an IP address, no host): those requests get the proxy's index page. The label
 * is not yet a ServiceName: one that is not a valid name is simply a name with no route.
 */
export function serviceNameOf(hostHeader: string | undefined): string | undefined {
  if (!hostHeader) return undefined;
  const host = hostnameOf(hostHeader);
  if (host === '' || host === 'localhost' || isIP(host) !== 0) return undefined;
  return host.split('.')[0] || undefined;
}

export function findRoute(routes: RouteTable, hostHeader: string | undefined): RouteTarget | null {
  const label = serviceNameOf(hostHeader);
  const service = label === undefined ? undefined : routeNameOf(label);
  return service === undefined ? null : (routes.get(service) ?? null);
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
