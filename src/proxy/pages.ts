/**
 * The proxy's own answers (index, 404 unknown service, 502 upstream down, 508 loop): HTML for browsers
 * (Accept: text/html), JSON when asked (Accept: application/json), plain text otherwise (curl).
 */
import { STATUS_CODES, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { ErrorCodes, messageOf } from '../api/errors.js';
import { httpStatusOf } from '../api/error-catalogue.js';
import { quoted } from './origin-check.js';
import type { RouteTarget } from './route-table.js';

export type Format = 'html' | 'json' | 'text';

export function formatFor(req: IncomingMessage): Format {
  const accept = (req.headers.accept ?? '').toLowerCase();
  if (accept.includes('application/json')) return 'json';
  if (accept.includes('text/html')) return 'html';
  return 'text';
}

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

export interface Page {
  status: number;
  title: string;
  /** Paragraphs of plain text. */
  lines: string[];
  /** Names to list as links to `http://<name>.localhost:<port>/`. */
  links?: string[];
  json: Record<string, unknown>;
}

export function sendPage(req: IncomingMessage, res: ServerResponse, page: Page, proxyPort: number): void {
  const format = formatFor(req);
  let body: string;
  let type: string;
  if (format === 'json') {
    body = JSON.stringify(page.json, null, 2) + '\n';
    type = 'application/json; charset=utf-8';
  } else if (format === 'html') {
    const links = (page.links ?? [])
      .map((n) => `<li><a href="http://${escapeHtml(n)}.localhost:${proxyPort}/">${escapeHtml(n)}</a></li>`)
      .join('');
    body =
      `<!doctype html><html><head><meta charset="utf-8"><title>${escapeHtml(page.title)}</title>` +
      `<style>body{font-family:system-ui,sans-serif;max-width:40rem;margin:3rem auto;padding:0 1rem}</style></head><body>` +
      `<h1>${escapeHtml(page.title)}</h1>` +
      page.lines.map((l) => `<p>${escapeHtml(l)}</p>`).join('') +
      (links ? `<ul>${links}</ul>` : '') +
      `<p><small>Private Connect proxy</small></p></body></html>\n`;
    type = 'text/html; charset=utf-8';
  } else {
    const links = (page.links ?? []).map((n) => `  http://${n}.localhost:${proxyPort}/`);
    body = [page.title, ...page.lines, ...links].join('\n') + '\n';
    type = 'text/plain; charset=utf-8';
  }
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res.writeHead(page.status, {
    'content-type': type,
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
  });
  res.end(req.method === 'HEAD' ? undefined : body);
}

/** An upgrade refused before it was tunnelled: the page as JSON on the raw socket, which is then closed. */
export function sendRawPage(socket: Duplex, page: Page): void {
  const body = JSON.stringify(page.json) + '\n';
  socket.end(
    `HTTP/1.1 ${page.status} ${STATUS_CODES[page.status] ?? ''}\r\ncontent-type: application/json\r\n` +
      `content-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
  );
}

/** The proxy's own host (`localhost:<port>`): the routes, as JSON for `proxy status`, or as a page of links. */
export function sendIndex(
  req: IncomingMessage,
  res: ServerResponse,
  info: { routes: readonly { name: string }[] },
  proxyPort: number,
): void {
  const names = info.routes.map((r) => r.name);
  if (formatFor(req) === 'json') {
    const body = JSON.stringify(info, null, 2) + '\n';
    res.writeHead(200, {
      'content-type': 'application/json; charset=utf-8',
      'content-length': Buffer.byteLength(body),
    });
    res.end(req.method === 'HEAD' ? undefined : body);
    return;
  }
  sendPage(
    req,
    res,
    {
      status: 200,
      title: 'Private Connect proxy',
      lines: [
        names.length
          ? `${names.length} service(s) reachable at http://<name>.localhost:${proxyPort}/`
          : 'No services yet: run `connect reach <name>` or expose one on another machine.',
      ],
      links: names,
      json: { ...info },
    },
    proxyPort,
  );
}

/**
 * 404: `name` has no route (empty: the Host names no service). `available`: the names that have one, listed only to
 * the service's own origin (undefined: not listed, a page of another site learns nothing from a miss).
 */
export function notFoundPage(name: string, available: string[] | undefined): Page {
  const listed = available !== undefined;
  return {
    status: 404,
    title: name ? `No service named '${name}'` : 'No service named in the host',
    lines: !listed
      ? []
      : [
          available.length
            ? `Available services (${available.length}):`
            : 'No services are available: run `connect reach <name>` or expose one.',
        ],
    links: available ?? [],
    json: {
      error: ErrorCodes.NOT_FOUND,
      message: name ? `no service named '${name}'` : 'use http://<service>.localhost:<port>/',
      service: name || null,
      ...(listed && { available }),
    },
  };
}

/** 421: a Host this proxy does not serve (another name that resolves here, a LAN address, no Host at all). */
export function misdirectedPage(host: string): Page {
  const what = host ? `'${quoted(host)}'` : 'a request without a Host';
  const message = `misdirected: this proxy serves only http://<service>.localhost:<port>/ (and its index on localhost), not ${what}`;
  return {
    status: 421,
    title: message,
    lines: [],
    json: { error: 'MISDIRECTED_REQUEST', message, host: host ? quoted(host) : null },
  };
}

/** 403: a state-changing request or an upgrade made by a page of another site (origin-check.ts says why). */
export function crossSitePage(reason: string): Page {
  return { status: 403, title: reason, lines: [], json: { error: 'CROSS_SITE_REQUEST', message: reason } };
}

/** A route whose service is not HTTP (`tcp`, or not known to be HTTP): refused, never forwarded as a request. */
export function notHttpPage(route: RouteTarget): Page {
  const what = route.protocol ? `a ${route.protocol} service` : 'a service of unknown protocol';
  const message = `'${route.name}' is ${what}, not an HTTP service: the proxy routes only http and https services (use connect reach ${route.name})`;
  return {
    status: httpStatusOf(ErrorCodes.UNSUPPORTED),
    title: message,
    lines: [],
    json: {
      error: ErrorCodes.UNSUPPORTED,
      message,
      service: route.name,
      protocol: route.protocol ?? null,
    },
  };
}

/** Why a route's service did not answer, in the words a user can act on (for the 502 page and the log). */
export function upstreamReason(route: RouteTarget, err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code;
  if (route.source === 'local') {
    const holder = route.pid ? ` (held by pid ${route.pid})` : '';
    if (code === 'ECONNREFUSED')
      return `nothing is listening on localhost:${route.port}${holder}: connection refused`;
    return `localhost:${route.port}${holder}: ${messageOf(err)}`;
  }
  return messageOf(err);
}

export function badGatewayPage(route: RouteTarget, err: unknown): Page {
  const reason = upstreamReason(route, err);
  const via = route.source === 'local' ? `local route localhost:${route.port}` : 'the hub';
  return {
    status: 502,
    title: `Service '${route.name}' is not answering`,
    lines: [`The proxy could not reach '${route.name}' through ${via}: ${reason}`],
    json: {
      error: 'BAD_GATEWAY',
      message: `service '${route.name}' is not answering: ${reason}`,
      service: route.name,
      source: route.source,
      reason,
    },
  };
}

export function loopPage(name: string): Page {
  return {
    status: 508,
    title: 'Loop detected',
    lines: [`The request for '${name}' came back to this proxy: the route leads to the proxy itself.`],
    json: {
      error: 'LOOP_DETECTED',
      message: `the request for '${name}' looped back to this proxy`,
      service: name,
    },
  };
}
