/**
 * The proxy's route table (seed 000, "Route Table Management"): every service of the workspace at the hub, then the
 * local routes of `connect reach` / `connect dev` (~/.connect/active-routes.json), which win over a hub service of
 * the same name. Routes are keyed by ServiceName, so `Backend-API` and `backend-api` are one route; a Host
 * `<name>.localhost` asks for the route named `<name>`, and no other Host asks for any (hostAskOf).
 */
import { isIP } from 'node:net';
import type { ServiceView } from '../api/views.js';
import type { ServiceProtocol } from '../api/service-protocol.js';
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
  /**
   * What the service speaks, from the hub's list (a local route: as its `reach` recorded it, else the hub's service
   * of that name). Only `http` and `https` routes are forwarded; undefined when neither source says.
   */
  protocol?: ServiceProtocol;
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
    addRoute(table, {
      name: s.name,
      source: 'hub',
      port: s.tunnelPort,
      status: s.status,
      protocol: s.protocol,
    });
  }
  for (const r of activeRoutes) {
    const service = routeNameOf(r.serviceName);
    const protocol = r.protocol ?? (service === undefined ? undefined : table.get(service)?.protocol);
    addRoute(table, {
      name: r.serviceName,
      source: 'local',
      port: r.localPort,
      pid: r.pid,
      ...(protocol && { protocol }),
    });
  }
  return table;
}

/** The host names whose requests get the proxy's own index page (its status and the list of routes). */
export const PROXY_HOSTNAMES: ReadonlySet<string> = new Set(['localhost', '127.0.0.1', '::1']);
/** The only names routed to a service: `<service>.localhost` (browsers resolve every *.localhost to loopback). */
export const ROUTED_SUFFIX = '.localhost';

/** A Host header split into its host name (lower-cased, no brackets, no trailing dot) and its port, if any. */
export interface HostParts {
  hostname: string;
  port: string | undefined;
}

const HOST_RE = /^(?:\[([0-9a-f:.]+)\]|([^:[\]/\s@]+))(?::(\d{1,5}))?$/;

/** Parses a Host header; undefined when it is absent, empty or not `name[:port]` / `[v6][:port]`. */
export function hostPartsOf(hostHeader: string | undefined): HostParts | undefined {
  const m = HOST_RE.exec((hostHeader ?? '').trim().toLowerCase());
  if (!m) return undefined;
  const name = m[1] ?? m[2] ?? '';
  const hostname = name.endsWith('.') ? name.slice(0, -1) : name;
  if (hostname === '' || (m[1] !== undefined && isIP(hostname) !== 6)) return undefined;
  return { hostname, port: m[3] };
}

/** The host name of a Host header, without the port and IPv6 brackets, lower-cased ('' when it does not parse). */
export function hostnameOf(hostHeader: string): string {
  return hostPartsOf(hostHeader)?.hostname ?? '';
}

/**
 * What a Host header asks for: the proxy itself (`localhost`, `127.0.0.1`, `[::1]`: its index), the service named
 * by `<label>.localhost`, or nothing this proxy serves (another name, a LAN address, no Host): a page of another site
 * whose name was rebound to 127.0.0.1 sends its own name, and must not reach a service. The label is not yet a
 * ServiceName: one that is not a valid name is simply a name with no route.
 */
export type HostAsk =
  { kind: 'proxy' } | { kind: 'service'; label: string } | { kind: 'misdirected'; host: string };

export function hostAskOf(hostHeader: string | undefined): HostAsk {
  const parts = hostPartsOf(hostHeader);
  const host = (hostHeader ?? '').trim();
  if (!parts) return { kind: 'misdirected', host };
  if (PROXY_HOSTNAMES.has(parts.hostname)) return { kind: 'proxy' };
  const label = parts.hostname.slice(0, -ROUTED_SUFFIX.length);
  if (!parts.hostname.endsWith(ROUTED_SUFFIX) || label === '' || label.includes('.'))
    return { kind: 'misdirected', host };
  return { kind: 'service', label };
}

/** The service label a Host header asks for (`backend-api.localhost:9999` → `backend-api`), else undefined. */
export function serviceNameOf(hostHeader: string | undefined): string | undefined {
  const ask = hostAskOf(hostHeader);
  return ask.kind === 'service' ? ask.label : undefined;
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
