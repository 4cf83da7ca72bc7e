/**
 * The subdomain HTTP proxy (`connect proxy`): `http://<service>.localhost:<port>/` → the service. This module listens
 * and composes the parts, each in its own module:
 *   route-source.ts      where routes come from (the hub's services, the local active-routes file) and which route a
 *                        request's Host asks for (only <name>.localhost; any other Host: 421); a local route wins over
 *                        a hub service of the same name;
 *   origin-check.ts      what a page of another site may not do (state-changing requests, upgrades: 403), and who
 *                        may see the service names a 404 lists;
 *   upstreams.ts         how a route's service is reached (127.0.0.1:<port>, or a stream through the proxy's own hub
 *                        session);
 *   http-forwarder.ts    one plain request → the service, its response back;
 *   upgrade-tunnel.ts    an Upgrade (WebSocket) request → a raw bidirectional stream;
 *   forwarded-headers.ts hop-by-hop headers dropped, X-Forwarded-*, and the Via by which a loop is caught (508);
 *   pages.ts             the proxy's own answers: index, 403, 404, 421, 501 (not an HTTP service), 502, 508.
 */
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type net from 'node:net';
import type { Duplex } from 'node:stream';
import { randomBytes } from 'node:crypto';
import type { HubApi } from '../agent/hub-api.js';
import type { HubConnection, LogFn } from '../agent/hub-connection.js';
import { ConnectError, ErrorCodes, messageOf } from '../api/errors.js';
import { VERSION } from '../version.js';
import { ProxyStamp } from './forwarded-headers.js';
import { HttpForwarder } from './http-forwarder.js';
import {
  crossSitePage,
  loopPage,
  misdirectedPage,
  notFoundPage,
  notHttpPage,
  sendIndex,
  sendPage,
  sendRawPage,
  type Page,
} from './pages.js';
import { crossSiteRefusal, mayListNames } from './origin-check.js';
import { RouteSource } from './route-source.js';
import type { RouteTarget } from './route-table.js';
import { UpgradeTunnel } from './upgrade-tunnel.js';
import { Upstreams } from './upstreams.js';

export const DEFAULT_PROXY_PORT = 9999;

export interface ProxyOptions {
  port: number;
  /** Loopback by default; the proxy also listens on ::1 at the same port when it can. */
  host?: string;
  /** The proxy's own hub session (kind 'proxy'); without it only local routes work. */
  conn?: HubConnection;
  api?: HubApi;
  log: LogFn;
  refreshMs?: number;
}

/** What GET / with Accept: application/json answers on the proxy's own host (used by `proxy status`). */
export interface ProxyInfo {
  proxy: 'private-connect';
  id: string;
  pid: number;
  port: number;
  version: string;
  hub: { connected: boolean; lastRefresh: string | null; error: string | null };
  routes: ReturnType<RouteSource['describe']>;
}

/** Where a request goes: the proxy's index, one of its pages, or a route. */
type Decision = { to: 'index' } | { to: 'page'; page: Page } | { to: 'route'; route: RouteTarget };

export class ProxyServer {
  readonly id = randomBytes(6).toString('hex');
  port = 0;
  private readonly servers: http.Server[] = [];
  private readonly routes: RouteSource;
  private readonly upstreams: Upstreams;
  private readonly stamp: ProxyStamp;
  private readonly forwarder: HttpForwarder;
  private readonly tunnel: UpgradeTunnel;

  constructor(private readonly opts: ProxyOptions) {
    this.routes = new RouteSource({ api: opts.api, log: opts.log, refreshMs: opts.refreshMs });
    this.upstreams = new Upstreams(opts.conn);
    this.stamp = new ProxyStamp(this.id);
    this.forwarder = new HttpForwarder(this.upstreams, this.stamp, opts.log, () => this.port);
    this.tunnel = new UpgradeTunnel(this.upstreams, this.stamp, opts.log);
  }

  info(): ProxyInfo {
    return {
      proxy: 'private-connect',
      id: this.id,
      pid: process.pid,
      port: this.port,
      version: VERSION,
      hub: { connected: Boolean(this.opts.conn?.session), ...this.routes.hub },
      routes: this.routes.describe(),
    };
  }

  async start(): Promise<void> {
    await this.routes.load();
    await this.listen();
    this.routes.follow();
  }

  async stop(): Promise<void> {
    this.routes.stop();
    await Promise.all(
      this.servers.map(
        (s) =>
          new Promise<void>((resolve) => {
            s.close(() => resolve());
            s.closeAllConnections();
          }),
      ),
    );
    this.upstreams.destroy();
  }

  private async listen(): Promise<void> {
    const host = this.opts.host ?? '127.0.0.1';
    const primary = this.createServer();
    await new Promise<void>((resolve, reject) => {
      primary.once('error', (err: NodeJS.ErrnoException) => {
        if (err.code === 'EADDRINUSE') {
          reject(
            new ConnectError(
              ErrorCodes.PORT_UNAVAILABLE,
              `port ${this.opts.port} on ${host} is already in use`,
              'Pick another port with --port, or stop what uses it (is a proxy already running? connect proxy status).',
            ),
          );
        } else reject(err);
      });
      primary.listen({ host, port: this.opts.port, exclusive: true }, () => resolve());
    });
    this.port = (primary.address() as net.AddressInfo).port;
    this.servers.push(primary);
    if (host === '127.0.0.1') {
      // Browsers and curl may try ::1 first for *.localhost; serve it too when the machine has IPv6 loopback.
      const v6 = this.createServer();
      await new Promise<void>((resolve) => {
        v6.once('error', () => resolve());
        v6.listen({ host: '::1', port: this.port, exclusive: true }, () => {
          this.servers.push(v6);
          resolve();
        });
      });
    }
  }

  private createServer(): http.Server {
    const server = http.createServer({ requestTimeout: 0, headersTimeout: 60_000 }, (req, res) => {
      this.onRequest(req, res).catch((err: unknown) => {
        this.opts.log('error', `Proxy error: ${messageOf(err)}`);
        if (!res.headersSent) res.writeHead(500).end();
        else res.destroy();
      });
    });
    server.keepAliveTimeout = 65_000;
    server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      this.onUpgrade(req, socket, head).catch((err: unknown) => {
        this.opts.log('error', `Proxy error on upgrade: ${messageOf(err)}`);
        socket.destroy();
      });
    });
    server.on('clientError', (_err, socket) => {
      if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\n\r\n');
      else socket.destroy();
    });
    return server;
  }

  /**
   * The same for plain requests and upgrades, in this order: the Host (only names this proxy serves, else 421), then
   * another site's state-changing request or upgrade (403), a loop (508), the route (404), its protocol (only HTTP).
   */
  private async decide(req: IncomingMessage, upgrade: boolean): Promise<Decision> {
    const ask = this.routes.askedFor(req.headers.host);
    if (ask.kind === 'misdirected') return { to: 'page', page: misdirectedPage(ask.host) };
    const refusal = crossSiteRefusal(req, upgrade);
    if (refusal !== undefined) return { to: 'page', page: crossSitePage(refusal) };
    if (ask.kind === 'proxy') return { to: 'index' };
    if (this.stamp.isLoop(req)) return { to: 'page', page: loopPage(ask.label) };
    const route = await this.routes.resolve(ask.label);
    if (!route) return { to: 'page', page: this.notFound(req, ask.label) };
    if (route.protocol !== 'http' && route.protocol !== 'https')
      return { to: 'page', page: notHttpPage(route) };
    return { to: 'route', route };
  }

  /** The route names are listed only to the service's own origin, or to a request no page made. */
  private notFound(req: IncomingMessage, label: string): Page {
    return notFoundPage(label, mayListNames(req) ? this.routes.describe().map((r) => r.name) : undefined);
  }

  private async onRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const decision = await this.decide(req, false);
    if (decision.to === 'index') return sendIndex(req, res, this.info(), this.port);
    if (decision.to === 'page') return sendPage(req, res, decision.page, this.port);
    this.forwarder.forward(req, res, decision.route);
  }

  private async onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    socket.on('error', () => socket.destroy());
    const decision = await this.decide(req, true);
    // An upgrade to the proxy's own host has nothing to talk to.
    if (decision.to === 'index') return sendRawPage(socket, this.notFound(req, ''));
    if (decision.to === 'page') return sendRawPage(socket, decision.page);
    await this.tunnel.open(req, socket, head, decision.route);
  }
}
