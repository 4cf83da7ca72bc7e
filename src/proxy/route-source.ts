/**
 * Where the proxy's routes come from, and the one place a request's Host is accepted or refused.
 *
 * Sources: the hub's service list (fetched at start, every HUB_REFRESH_MS, and on a miss at most every
 * MISS_REFRESH_MS) and the local active-routes file (re-read when the directory watch sees it change, on the same
 * timer, and on a miss when the file's identity changed). The hub's last good list is kept when it does not answer.
 */
import { mkdirSync, statSync, watch, type FSWatcher } from 'node:fs';
import type { HubApi } from '../agent/hub-api.js';
import type { ServiceView } from '../api/views.js';
import type { LogFn } from '../agent/hub-connection.js';
import { loadActiveRoutes, type ActiveRoute } from '../config/active-routes.js';
import { connectDir, paths } from '../config/paths.js';
import { messageOf } from '../api/errors.js';
import {
  buildRouteTable,
  describeRoutes,
  hostAskOf,
  routeNameOf,
  type HostAsk,
  type RouteTable,
  type RouteTarget,
} from './route-table.js';

/** Seed 000: "The proxy refreshes service routes every 10 seconds". */
export const HUB_REFRESH_MS = 10_000;
const WATCH_DEBOUNCE_MS = 50;
/** An unknown name triggers an immediate refresh at most this often (a just-exposed service works at once). */
const MISS_REFRESH_MS = 1000;

export type { HostAsk } from './route-table.js';

export interface RouteSourceOptions {
  /** The hub's API; without it only local routes exist. */
  api?: HubApi;
  log: LogFn;
  refreshMs?: number;
}

export class RouteSource {
  private routes: RouteTable = new Map();
  private hubServices: ServiceView[] = [];
  private activeRoutes: ActiveRoute[] = [];
  /** Identity (inode, size, mtime) of the routes file when it was last read. */
  private activeRoutesVersion = '';
  private watcher: FSWatcher | undefined;
  private refreshTimer: NodeJS.Timeout | undefined;
  private debounceTimer: NodeJS.Timeout | undefined;
  private lastHubRefresh = 0;
  private lastHubRefreshAt: string | null = null;
  private hubError: string | null = null;
  private hubRefreshing: Promise<void> | undefined;
  private routeSummary = '';
  /** Route changes are logged only once the proxy listens (a failed start logs no routes). */
  private following = false;

  constructor(private readonly opts: RouteSourceOptions) {}

  /** The hub side of `proxy status`: when the list was last fetched, and why the last fetch failed. */
  get hub(): { lastRefresh: string | null; error: string | null } {
    return { lastRefresh: this.lastHubRefreshAt, error: this.hubError };
  }

  describe(): ReturnType<typeof describeRoutes> {
    return describeRoutes(this.routes);
  }

  /** Reads both sources once, before the proxy listens. */
  async load(): Promise<void> {
    this.reloadLocal(false);
    await this.refreshHub();
  }

  /** Once the proxy listens: keep both sources current, and log the routes whenever they change. */
  follow(): void {
    this.watchRoutes();
    this.refreshTimer = setInterval(() => {
      this.reloadLocal(true);
      void this.refreshHub();
    }, this.opts.refreshMs ?? HUB_REFRESH_MS);
    this.refreshTimer.unref();
    this.following = true;
    this.logRoutes();
  }

  stop(): void {
    if (this.refreshTimer) clearInterval(this.refreshTimer);
    if (this.debounceTimer) clearTimeout(this.debounceTimer);
    this.watcher?.close();
  }

  /**
   * What a Host header asks for. Every request and upgrade passes here before anything is routed, so a rule on
   * which hosts the proxy serves belongs here: only `<name>.localhost` is routed, `localhost` / `127.0.0.1` / `[::1]`
   * get the index, and any other Host (a rebound DNS name, a LAN address, none) is misdirected (421).
   */
  askedFor(hostHeader: string | undefined): HostAsk {
    return hostAskOf(hostHeader);
  }

  /**
   * The route for a Host label; on a miss, re-reads local routes and (rate-limited) the hub before giving up. A
   * label that is not a valid service name has no route, and costs no refresh.
   */
  async resolve(label: string): Promise<RouteTarget | undefined> {
    const service = routeNameOf(label);
    if (service === undefined) return undefined;
    const hit = this.routes.get(service);
    if (hit) return hit;
    // A route added since the last read (a `reach` that just started): re-read only when the file changed, so
    // requests for unknown names cost a stat, not a read and a liveness check per route.
    if (routesFileVersion() !== this.activeRoutesVersion) this.reloadLocal(true);
    if (!this.routes.has(service) && Date.now() - this.lastHubRefresh > MISS_REFRESH_MS)
      await this.refreshHub();
    return this.routes.get(service);
  }

  private rebuild(): void {
    this.routes = buildRouteTable(this.hubServices, this.activeRoutes);
    this.logRoutes();
  }

  private logRoutes(): void {
    const summary = this.describe()
      .map((r) => `${r.name} (${r.source === 'local' ? r.target : 'hub'})`)
      .join(', ');
    if (summary === this.routeSummary || !this.following) return;
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
