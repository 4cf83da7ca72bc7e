/**
 * One plain request to a route's service and its response back, with node:http on both sides. Bodies are piped both
 * ways, so backpressure holds end to end and nothing is buffered whole.
 */
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { LogFn } from '../agent/hub-connection.js';
import { hasBody, responseHeaders, type ProxyStamp } from './forwarded-headers.js';
import { badGatewayPage, sendPage, upstreamReason } from './pages.js';
import type { RouteTarget } from './route-table.js';
import type { Upstreams } from './upstreams.js';

export class HttpForwarder {
  constructor(
    private readonly upstreams: Upstreams,
    private readonly stamp: ProxyStamp,
    private readonly log: LogFn,
    /** The proxy's port, for the links on its pages. */
    private readonly proxyPort: () => number,
  ) {}

  forward(req: IncomingMessage, res: ServerResponse, route: RouteTarget, attempt = 0): void {
    const withBody = hasBody(req);
    const upstream = http.request({
      ...this.upstreams.requestTarget(route),
      method: req.method,
      path: req.url,
      headers: this.stamp.requestHeaders(req),
      setHost: false,
    });
    let responded = false;
    upstream.on('response', (ures) => {
      responded = true;
      res.writeHead(ures.statusCode ?? 502, ures.statusMessage, responseHeaders(ures.headers));
      ures.pipe(res);
      ures.on('error', () => res.destroy());
      ures.on('aborted', () => res.destroy());
    });
    upstream.on('error', (err) => {
      if (responded || res.headersSent) {
        res.destroy();
        return;
      }
      // A pooled connection the upstream closed while idle: retry once on a fresh one when nothing was consumed.
      if (upstream.reusedSocket && !withBody && attempt === 0 && !res.destroyed) {
        this.forward(req, res, route, 1);
        return;
      }
      this.log('warn', `502 for ${route.name}: ${upstreamReason(route, err)}`);
      sendPage(req, res, badGatewayPage(route, err), this.proxyPort());
    });
    res.on('close', () => {
      if (!res.writableFinished) upstream.destroy();
    });
    if (withBody) {
      req.pipe(upstream);
      req.on('error', () => upstream.destroy());
    } else {
      upstream.end();
      req.resume();
    }
  }
}
