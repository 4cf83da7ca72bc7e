/**
 * The subdomain HTTP proxy (`connect proxy`): `http://<service>.localhost:<port>/` → the service.
 *
 * Where a request goes:
 *   local route (active-routes.json, i.e. a running `connect reach` / `connect dev`) → 127.0.0.1:<localPort>,
 *   hub service → a stream opened through this process's OWN session with the hub (openServiceStream), never the
 *   hub's tunnel port, so the proxy works when the hub is on another machine.
 *
 * How bytes move: node:http on both sides. Upstream requests go through a keep-alive http.Agent: the ordinary one
 * for local routes, and one per hub service whose createConnection() opens a MuxStream wrapped in a MuxDuplex (no
 * loopback hop, and a reset's reason reaches the 502 page). Bodies are piped both ways, so backpressure holds end to
 * end and nothing is buffered whole. WebSocket (any Upgrade) requests are passed through raw: the request head is
 * re-written to the upstream, then bytes flow both ways with backpressure.
 *
 * Headers: hop-by-hop headers are dropped, X-Forwarded-For/-Host/-Proto are set, and `Via: 1.1 private-connect-<id>`
 * is appended; a request that already carries our id has looped back to us and gets a 508.
 */
import http, { type IncomingMessage, type OutgoingHttpHeaders, type ServerResponse } from 'node:http';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import { randomBytes } from 'node:crypto';
import { mkdirSync, statSync, watch, type FSWatcher } from 'node:fs';
import type { HubApi, ServiceView } from '../agent/hub-api.js';
import type { HubConnection, LogFn } from '../agent/hub-connection.js';
import { openServiceStream } from '../agent/reacher.js';
import { loadActiveRoutes, type ActiveRoute } from '../config/active-routes.js';
import { connectDir, paths } from '../config/paths.js';
import { ConnectError, ErrorCodes, messageOf } from '../api/errors.js';
import { VERSION } from '../version.js';
import { MuxDuplex, UpstreamError } from './mux-duplex.js';
import { sendPage, formatFor, type Page } from './pages.js';
import {
  buildRouteTable,
  describeRoutes,
  serviceNameOf,
  type RouteTable,
  type RouteTarget,
} from './route-table.js';

export const DEFAULT_PROXY_PORT = 9999;
/** Seed 000: "The proxy refreshes service routes every 10 seconds". */
export const HUB_REFRESH_MS = 10_000;
const WATCH_DEBOUNCE_MS = 50;
/** An unknown name triggers an immediate refresh at most this often (a just-exposed service works at once). */
const MISS_REFRESH_MS = 1000;

const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'proxy-authenticate',
  'proxy-authorization',
]);

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
  routes: ReturnType<typeof describeRoutes>;
}

function listedInConnection(headers: IncomingMessage['headers']): Set<string> {
  const value = headers.connection;
  return new Set(
    (Array.isArray(value) ? value.join(',') : (value ?? ''))
      .split(',')
      .map((t) => t.trim().toLowerCase())
      .filter(Boolean),
  );
}

function appendHeader(existing: string | string[] | undefined, value: string): string {
  const prior = Array.isArray(existing) ? existing.join(', ') : existing;
  return prior ? `${prior}, ${value}` : value;
}

function hasBody(req: IncomingMessage): boolean {
  if (req.headers['transfer-encoding'] !== undefined) return true;
  const length = req.headers['content-length'];
  return length !== undefined && length !== '0';
}

export class ProxyServer {
  readonly id = randomBytes(6).toString('hex');
  private readonly via: string;
  private routes: RouteTable = new Map();
  private hubServices: ServiceView[] = [];
  private activeRoutes: ActiveRoute[] = [];
  /** Identity (inode, size, mtime) of the routes file when it was last read. */
  private activeRoutesVersion = '';
  private readonly servers: http.Server[] = [];
  private watcher: FSWatcher | undefined;
  private refreshTimer: NodeJS.Timeout | undefined;
  private debounceTimer: NodeJS.Timeout | undefined;
  private lastHubRefresh = 0;
  private lastHubRefreshAt: string | null = null;
  private hubError: string | null = null;
  private hubRefreshing: Promise<void> | undefined;
  private readonly localAgent = new http.Agent({ keepAlive: true, maxFreeSockets: 32 });
  private readonly hubAgents = new Map<string, http.Agent>();
  private routeSummary = '';
  port = 0;

  constructor(private readonly opts: ProxyOptions) {
    this.via = `1.1 private-connect-${this.id}`;
  }

  get table(): RouteTable {
    return this.routes;
  }

  info(): ProxyInfo {
    return {
      proxy: 'private-connect',
      id: this.id,
      pid: process.pid,
      port: this.port,
      version: VERSION,
      hub: {
        connected: Boolean(this.opts.conn?.session),
        lastRefresh: this.lastHubRefreshAt,
        error: this.hubError,
      },
      routes: describeRoutes(this.routes),
    };
  }

  async start(): Promise<void> {
    this.reloadLocal(false);
    await this.refreshHub();
    await this.listen();
    this.watchRoutes();
    this.refreshTimer = setInterval(() => {
      this.reloadLocal(true);
      void this.refreshHub();
    }, this.opts.refreshMs ?? HUB_REFRESH_MS);
    this.refreshTimer.unref();
    this.logRoutes();
  }

  async stop(): Promise<void> {
    if (this.refreshTimer) clearInterval(this.refreshTimer);
    if (this.debounceTimer) clearTimeout(this.debounceTimer);
    this.watcher?.close();
    await Promise.all(
      this.servers.map(
        (s) =>
          new Promise<void>((resolve) => {
            s.close(() => resolve());
            s.closeAllConnections();
          }),
      ),
    );
    this.localAgent.destroy();
    for (const agent of this.hubAgents.values()) agent.destroy();
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Routes

  private rebuild(): void {
    this.routes = buildRouteTable(this.hubServices, this.activeRoutes);
    this.logRoutes();
  }

  private logRoutes(): void {
    const summary = describeRoutes(this.routes)
      .map((r) => `${r.name} (${r.source === 'local' ? r.target : 'hub'})`)
      .join(', ');
    if (summary === this.routeSummary || this.port === 0) return;
    this.routeSummary = summary;
    this.opts.log('info', `Routes: ${summary || '(none)'}`);
  }

  private reloadLocal(rebuild: boolean): void {
    try {
      this.activeRoutesVersion = routesFileVersion();
      this.activeRoutes = loadActiveRoutes();
    } catch (err) {
      this.opts.log('warn', `Cannot read active routes: ${messageOf(err)}`);
    }
    if (rebuild) this.rebuild();
  }

  /** Fetches the hub's services (one refresh at a time); keeps the last list when the hub does not answer. */
  private refreshHub(): Promise<void> {
    const api = this.opts.api;
    if (!api) {
      this.rebuild();
      return Promise.resolve();
    }
    this.hubRefreshing ??= api
      .services()
      .then(
        (services) => {
          this.hubServices = services;
          this.lastHubRefreshAt = new Date().toISOString();
          if (this.hubError) this.opts.log('info', '[ok] The hub answers again');
          this.hubError = null;
        },
        (err: unknown) => {
          const message = messageOf(err);
          if (message !== this.hubError)
            this.opts.log('warn', `Cannot refresh services from the hub: ${message}`);
          this.hubError = message;
        },
      )
      .finally(() => {
        this.lastHubRefresh = Date.now();
        this.hubRefreshing = undefined;
        this.rebuild();
      });
    return this.hubRefreshing;
  }

  /** Directory watch (the file is replaced by rename, so a watch on the file itself would go stale). */
  private watchRoutes(): void {
    const dir = connectDir();
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    try {
      this.watcher = watch(dir, { persistent: false }, (_event, filename) => {
        if (filename !== null && filename !== 'active-routes.json') return;
        if (this.debounceTimer) clearTimeout(this.debounceTimer);
        this.debounceTimer = setTimeout(() => this.reloadLocal(true), WATCH_DEBOUNCE_MS);
      });
      this.watcher.on('error', (err) => {
        this.opts.log(
          'warn',
          `Stopped watching ${dir}: ${messageOf(err)}; routes refresh every ${HUB_REFRESH_MS / 1000}s`,
        );
        this.watcher?.close();
        this.watcher = undefined;
      });
    } catch (err) {
      this.opts.log(
        'warn',
        `Cannot watch ${dir}: ${messageOf(err)}; routes refresh every ${HUB_REFRESH_MS / 1000}s`,
      );
    }
  }

  /** The route for a name; on a miss, re-reads local routes and (rate-limited) the hub before giving up. */
  private async resolve(name: string): Promise<RouteTarget | undefined> {
    const hit = this.routes.get(name);
    if (hit) return hit;
    // A route added since the last read (a `reach` that just started): re-read only when the file changed, so
    // requests for unknown names cost a stat, not a read and a liveness check per route.
    if (routesFileVersion() !== this.activeRoutesVersion) this.reloadLocal(true);
    if (!this.routes.has(name) && Date.now() - this.lastHubRefresh > MISS_REFRESH_MS) await this.refreshHub();
    return this.routes.get(name);
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Listening

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

  // ---------------------------------------------------------------------------------------------------------------
  // Plain requests

  private isLoop(req: IncomingMessage): boolean {
    const via = req.headers.via;
    return (
      via !== undefined && (Array.isArray(via) ? via.join(',') : via).includes(`private-connect-${this.id}`)
    );
  }

  private async onRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const name = serviceNameOf(req.headers.host);
    if (name === undefined) return this.sendIndex(req, res);
    if (this.isLoop(req)) return sendPage(req, res, this.loopPage(name), this.port);
    const route = await this.resolve(name);
    if (!route) return sendPage(req, res, this.notFoundPage(name), this.port);
    this.forward(req, res, route, 0);
  }

  private forward(req: IncomingMessage, res: ServerResponse, route: RouteTarget, attempt: number): void {
    const withBody = hasBody(req);
    const upstream = http.request({
      agent: route.source === 'local' ? this.localAgent : this.hubAgent(route.name),
      host: route.source === 'local' ? route.host : route.name.toLowerCase(),
      port: route.source === 'local' ? route.port : 80,
      method: req.method,
      path: req.url,
      headers: this.requestHeaders(req),
      setHost: false,
    });
    let responded = false;
    upstream.on('response', (ures) => {
      responded = true;
      const headers: OutgoingHttpHeaders = {};
      const listed = listedInConnection(ures.headers);
      for (const [key, value] of Object.entries(ures.headers)) {
        if (value !== undefined && !HOP_BY_HOP.has(key) && !listed.has(key)) headers[key] = value;
      }
      res.writeHead(ures.statusCode ?? 502, ures.statusMessage, headers);
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
      this.opts.log('warn', `502 for ${route.name}: ${this.upstreamReason(route, err)}`);
      sendPage(req, res, this.badGatewayPage(route, err), this.port);
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

  private hubAgent(name: string): http.Agent {
    const key = name.toLowerCase();
    let agent = this.hubAgents.get(key);
    if (agent) return agent;
    agent = new http.Agent({ keepAlive: true, maxFreeSockets: 16 });
    const conn = this.opts.conn;
    agent.createConnection = (_options, callback): undefined => {
      const done = callback as (err: Error | null, socket?: Duplex) => void;
      if (!conn) {
        process.nextTick(() => done(new UpstreamError('this proxy is not connected to a hub')));
        return undefined;
      }
      openServiceStream(conn, key).then(
        (stream) => done(null, new MuxDuplex(stream)),
        (err: unknown) => done(err instanceof Error ? err : new Error(String(err))),
      );
      return undefined;
    };
    this.hubAgents.set(key, agent);
    return agent;
  }

  private requestHeaders(req: IncomingMessage): OutgoingHttpHeaders {
    const listed = listedInConnection(req.headers);
    const out: OutgoingHttpHeaders = {};
    for (const [key, value] of Object.entries(req.headers)) {
      // `expect` is answered by this server already (100-continue); passing it on would make the upstream wait.
      if (value === undefined || HOP_BY_HOP.has(key) || listed.has(key) || key === 'expect') continue;
      out[key] = value;
    }
    Object.assign(out, this.forwardedHeaders(req));
    // A streamed body of unknown length stays chunked whatever the method (node only chunks POST-like ones by default).
    if (req.headers['transfer-encoding'] !== undefined) out['transfer-encoding'] = 'chunked';
    return out;
  }

  private forwardedHeaders(req: IncomingMessage): Record<string, string> {
    const client = (req.socket.remoteAddress ?? '').replace(/^::ffff:/, '');
    return {
      'x-forwarded-for': appendHeader(req.headers['x-forwarded-for'], client),
      'x-forwarded-host': String(req.headers['x-forwarded-host'] ?? req.headers.host ?? ''),
      'x-forwarded-proto': String(req.headers['x-forwarded-proto'] ?? 'http'),
      via: appendHeader(req.headers.via, this.via),
    };
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Upgrades (WebSocket and any other protocol switch): the head re-written, then raw bytes both ways.

  private async onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    socket.on('error', () => socket.destroy());
    const name = serviceNameOf(req.headers.host);
    const reject = (page: Page): void => {
      const body = JSON.stringify(page.json) + '\n';
      socket.end(
        `HTTP/1.1 ${page.status} ${http.STATUS_CODES[page.status] ?? ''}\r\ncontent-type: application/json\r\n` +
          `content-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
      );
    };
    if (name === undefined) return reject(this.notFoundPage(''));
    if (this.isLoop(req)) return reject(this.loopPage(name));
    const route = await this.resolve(name);
    if (!route) return reject(this.notFoundPage(name));

    let upstream: Duplex;
    if (route.source === 'local') {
      upstream = net.connect({ host: route.host, port: route.port, noDelay: true });
    } else {
      if (!this.opts.conn)
        return reject(this.badGatewayPage(route, new UpstreamError('this proxy is not connected to a hub')));
      try {
        upstream = new MuxDuplex(await openServiceStream(this.opts.conn, route.name));
      } catch (err) {
        return reject(this.badGatewayPage(route, err));
      }
    }
    // The client may have gone while the route or the hub stream was being set up: nothing to connect.
    if (socket.destroyed) {
      upstream.destroy();
      return;
    }
    let answered = false;
    upstream.on('data', (chunk: Buffer) => {
      answered = true;
      if (!socket.write(chunk)) upstream.pause();
    });
    socket.on('drain', () => upstream.resume());
    socket.on('data', (chunk: Buffer) => {
      if (!upstream.write(chunk)) socket.pause();
    });
    upstream.on('drain', () => socket.resume());
    upstream.on('end', () => socket.end());
    socket.on('end', () => upstream.end());
    upstream.on('error', (err) => {
      if (!answered && !socket.destroyed) {
        this.opts.log('warn', `502 for ${route.name} (upgrade): ${this.upstreamReason(route, err)}`);
        reject(this.badGatewayPage(route, err));
      } else socket.destroy();
    });
    socket.on('close', () => upstream.destroy());
    upstream.write(this.rawHead(req));
    if (head.length > 0) upstream.write(head);
  }

  private rawHead(req: IncomingMessage): Buffer {
    const skip = new Set(['x-forwarded-for', 'x-forwarded-host', 'x-forwarded-proto', 'via']);
    let text = `${req.method ?? 'GET'} ${req.url ?? '/'} HTTP/1.1\r\n`;
    for (let i = 0; i + 1 < req.rawHeaders.length; i += 2) {
      const key = req.rawHeaders[i] ?? '';
      if (!skip.has(key.toLowerCase())) text += `${key}: ${req.rawHeaders[i + 1] ?? ''}\r\n`;
    }
    for (const [key, value] of Object.entries(this.forwardedHeaders(req))) text += `${key}: ${value}\r\n`;
    return Buffer.from(text + '\r\n', 'latin1');
  }

  // ---------------------------------------------------------------------------------------------------------------
  // The proxy's own pages

  private upstreamReason(route: RouteTarget, err: unknown): string {
    const code = (err as NodeJS.ErrnoException).code;
    if (route.source === 'local') {
      const holder = route.pid ? ` (held by pid ${route.pid})` : '';
      if (code === 'ECONNREFUSED')
        return `nothing is listening on localhost:${route.port}${holder}: connection refused`;
      return `localhost:${route.port}${holder}: ${messageOf(err)}`;
    }
    return messageOf(err);
  }

  private sendIndex(req: IncomingMessage, res: ServerResponse): void {
    const info = this.info();
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
            ? `${names.length} service(s) reachable at http://<name>.localhost:${this.port}/`
            : 'No services yet: run `connect reach <name>` or expose one on another machine.',
        ],
        links: names,
        json: { ...info },
      },
      this.port,
    );
  }

  private notFoundPage(name: string): Page {
    const names = describeRoutes(this.routes).map((r) => r.name);
    return {
      status: 404,
      title: name ? `No service named '${name}'` : 'No service named in the host',
      lines: [
        names.length
          ? `Available services (${names.length}):`
          : 'No services are available: run `connect reach <name>` or expose one.',
      ],
      links: names,
      json: {
        error: ErrorCodes.NOT_FOUND,
        message: name ? `no service named '${name}'` : 'use http://<service>.localhost:<port>/',
        service: name || null,
        available: names,
      },
    };
  }

  private badGatewayPage(route: RouteTarget, err: unknown): Page {
    const reason = this.upstreamReason(route, err);
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

  private loopPage(name: string): Page {
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
}

/** Changes whenever the active-routes file is rewritten (atomically, by rename: a new inode). */
function routesFileVersion(): string {
  try {
    const st = statSync(paths.activeRoutes());
    return `${st.ino}:${st.size}:${st.mtimeMs}`;
  } catch {
    return 'absent';
  }
}
