/**
 * Which requests another web site may make through the proxy. A page on any site can make the browser send requests
 * to `http://<name>.localhost:9999/`, so what only the page's own origin may do is decided here, from the headers
 * browsers set and pages cannot forge (`Origin`, `Sec-Fetch-Site`):
 *   - a state-changing request (any method but GET, HEAD, OPTIONS) from another origin is refused (403);
 *   - an upgrade (WebSocket) from another origin is refused (403): browsers do not apply CORS to WebSockets;
 *   - a request without Origin or Sec-Fetch-Site (curl, CLI tools, a navigation typed by the user) is not a page's,
 *     and keeps working.
 * "Same origin" is the origin of the request's own Host (`http://<name>.localhost:<port>`), which route-table.ts has
 * already accepted as a name this proxy serves. A page of this machine (an origin on `localhost`, `*.localhost`,
 * 127.0.0.0/8 or `[::1]`, any port) may make state-changing requests and upgrades too: that is `connect dev`'s
 * everyday case, a frontend on localhost:3000 (or web.localhost:9999) calling staging-api.localhost:9999. The
 * attack this check stops is a page of the internet driving the user's browser; a page served from the machine's
 * own loopback is not one (DNS rebinding cannot give an internet page such an origin: the Origin carries the name
 * the page was loaded from, and the Host check refuses every name but `<name>.localhost`).
 */
import type { IncomingMessage } from 'node:http';
import { hostPartsOf } from './route-table.js';
import { isLoopbackHost } from '../util/loopback.js';

/** Methods that must not change state (RFC 9110 §9.2.1); OPTIONS also carries CORS preflights. */
export const SAFE_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS']);
/** `Sec-Fetch-Site` values of a request the user made, or a page of this same origin made. */
const SAME_ORIGIN_FETCH_SITES: ReadonlySet<string> = new Set(['same-origin', 'none']);
/** At most this much of a header a page controls is quoted back in a refusal. */
export const QUOTED_HEADER_CHARS = 64;

function single(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value.join(',') : value;
}

/** A header value as a refusal quotes it: cut, and without control characters. */
export function quoted(value: string): string {
  const clean = value.replace(/[^\x20-\x7e]/g, '?');
  return clean.length > QUOTED_HEADER_CHARS ? `${clean.slice(0, QUOTED_HEADER_CHARS)}…` : clean;
}

/** Whether an Origin header names the origin of the request's own Host (`http:` only: the proxy speaks no TLS). */
export function isSameOrigin(origin: string, hostHeader: string | undefined): boolean {
  const host = hostPartsOf(hostHeader);
  if (!host) return false;
  let url: URL;
  try {
    url = new URL(origin);
  } catch {
    return false; // `null` (sandboxed frames, file: pages, redirects) and anything else that is not an origin
  }
  const hostname = url.hostname.replace(/^\[|\]$/g, '').replace(/\.$/, '');
  const port = host.port === '80' ? '' : (host.port ?? '');
  return url.protocol === 'http:' && hostname === host.hostname && url.port === port;
}

/** Whether an Origin is a page served from this machine: http(s) on localhost, `*.localhost`, 127.0.0.0/8, ::1. */
export function isThisMachinesOrigin(origin: string): boolean {
  let url: URL;
  try {
    url = new URL(origin);
  } catch {
    return false;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return false;
  const hostname = url.hostname.replace(/\.$/, '');
  return isLoopbackHost(hostname) || hostname.endsWith('.localhost');
}

/**
 * Why this request is refused as another site's, or undefined when it may pass. `upgrade`: a WebSocket or other
 * protocol switch, refused from another origin whatever its method.
 */
export function crossSiteRefusal(req: IncomingMessage, upgrade: boolean): string | undefined {
  const origin = single(req.headers.origin);
  const site = single(req.headers['sec-fetch-site'])?.trim().toLowerCase();
  if (!upgrade && SAFE_METHODS.has((req.method ?? 'GET').toUpperCase())) return undefined;
  const what = upgrade ? 'an upgrade (WebSocket)' : `a ${req.method ?? ''} request`;
  // Browsers send Origin with every cross-origin state-changing request and every WebSocket: where it is present it
  // decides; Sec-Fetch-Site (which calls sibling *.localhost origins cross-site) only where it is absent.
  if (origin !== undefined) {
    if (isSameOrigin(origin, req.headers.host) || isThisMachinesOrigin(origin)) return undefined;
    return `refused ${what} from another site (Origin ${quoted(origin)}): only pages served from this machine may make it`;
  }
  if (site === 'cross-site')
    return `refused ${what} from another site (Sec-Fetch-Site: cross-site): only pages served from this machine may make it`;
  return undefined;
}

/**
 * Whether a reply may list the proxy's service names: only to the service's own origin, or to a request no page made
 * (no Origin, Sec-Fetch-Site absent, same-origin or none).
 */
export function mayListNames(req: IncomingMessage): boolean {
  const origin = single(req.headers.origin);
  const site = single(req.headers['sec-fetch-site'])?.trim().toLowerCase();
  if (site !== undefined && !SAME_ORIGIN_FETCH_SITES.has(site)) return false;
  return origin === undefined || isSameOrigin(origin, req.headers.host);
}
