import { BlockList, createServer, isIP, type DropArgument, type Server, type Socket } from 'node:net';
import type { Logger } from 'pino';
import { ConnectError, ErrorCodes } from '../api/errors.js';
import { throttle } from '../util/throttle.js';
import type { ServiceName } from '../api/service-name.js';

/** Which service a tunnel port belongs to, kept in memory so a new connection needs no database query. */
export interface TunnelOwner {
  workspaceId: string;
  name: ServiceName;
}

/**
 * Fails when the tunnel host is not an address of this machine. Without this check the hub would start, and every
 * expose would then try each port of the range in turn and report "no free tunnel port left in its range".
 */
export async function checkTunnelHost(host: string): Promise<void> {
  const probe = createServer();
  await new Promise<void>((resolve, reject) => {
    probe.once('error', (err: NodeJS.ErrnoException) =>
      reject(
        new ConnectError(
          ErrorCodes.PORT_UNAVAILABLE,
          `cannot listen on --tunnel-host ${host}: ${err.code ?? err.message}`,
          'Use an address of this machine (127.0.0.1 by default, 0.0.0.0 for every interface).',
        ),
      ),
    );
    probe.listen({ host, port: 0 }, () => probe.close(() => resolve()));
  });
}

/** True for an address (or `localhost`) that only this machine can connect to: 127.0.0.0/8, ::1. */
export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  if (h === 'localhost' || h === '::1') return true;
  const v4 = h.startsWith('::ffff:') ? h.slice('::ffff:'.length) : h;
  return isIP(v4) === 4 && v4.startsWith('127.');
}

/** Entries of one `--tunnel-allow` at most (each is one subnet to match; a list this long is a mistake). */
export const MAX_TUNNEL_ALLOW_ENTRIES = 256;

/**
 * The `--tunnel-allow` list (`10.0.0.0/8,192.168.1.7,fd00::/8`) as a BlockList of the subnets it allows; a bare
 * address is its own /32 (/128). Any malformed entry refuses the whole list with one line naming it.
 */
export function parseTunnelAllow(entries: readonly string[]): BlockList {
  const list = new BlockList();
  if (entries.length > MAX_TUNNEL_ALLOW_ENTRIES) {
    throw new ConnectError(
      ErrorCodes.BAD_INPUT,
      `--tunnel-allow lists ${entries.length} entries (at most ${MAX_TUNNEL_ALLOW_ENTRIES})`,
    );
  }
  for (const entry of entries) {
    const [address = '', prefix, extra] = entry.trim().split('/');
    const family = isIP(address);
    const max = family === 6 ? 128 : 32;
    const bits = prefix === undefined ? max : /^\d{1,3}$/.test(prefix) ? Number(prefix) : NaN;
    if (family === 0 || extra !== undefined || !(bits >= 0 && bits <= max)) {
      throw new ConnectError(
        ErrorCodes.BAD_INPUT,
        `--tunnel-allow: '${entry.slice(0, 64)}' is not an address or CIDR (e.g. 10.0.0.0/8, 192.168.1.7, fd00::/8)`,
      );
    }
    list.addSubnet(address, bits, family === 6 ? 'ipv6' : 'ipv4');
  }
  return list;
}

/** Whether a peer address is in the allow list (an IPv4-mapped IPv6 address is checked as its IPv4 address). */
export function isAllowed(allow: BlockList, remote: string | undefined): boolean {
  if (!remote) return false;
  const v4 = remote.startsWith('::ffff:') ? remote.slice('::ffff:'.length) : remote;
  if (isIP(v4) === 4) return allow.check(v4, 'ipv4');
  return isIP(remote) === 6 && allow.check(remote, 'ipv6');
}

/**
 * Who may connect to the tunnel ports. Loopback by default: only this machine. A tunnel host other machines can
 * reach must name them: without `--tunnel-allow` the hub refuses to start (a raw stream to a private database
 * must not be one guess of a port away from the whole network). With a list, only its addresses are served
 * (loopback included only when listed). Returns undefined when every peer may connect (loopback, no list).
 */
export function tunnelAccess(host: string, allow: readonly string[] | undefined): BlockList | undefined {
  if (allow !== undefined && allow.length > 0) return parseTunnelAllow(allow);
  if (isLoopbackHost(host)) return undefined;
  throw new ConnectError(
    ErrorCodes.BAD_INPUT,
    `--tunnel-host ${host} is reachable from other machines: name who may connect with --tunnel-allow <CIDR,…>`,
    'e.g. --tunnel-allow 10.0.0.0/8,192.168.1.7 (or keep the default --tunnel-host 127.0.0.1)',
  );
}

/** At most one warning per this long per listener when it refuses connections (a flood must not flood the log). */
export const DROP_WARN_INTERVAL_MS = 10_000;

/**
 * A 'drop' listener (node emits 'drop' for each connection a server refuses at maxConnections) that logs one warn
 * line at once, then at most one per DROP_WARN_INTERVAL_MS, each counting the refusals since the last line.
 */
export function warnOnDrop(
  log: Logger,
  describe: () => { fields: Record<string, unknown>; message: string },
): (data?: DropArgument) => void {
  return throttle(DROP_WARN_INTERVAL_MS, (dropped: number, data?: DropArgument) => {
    const { fields, message } = describe();
    log.warn({ ...fields, dropped, from: data?.remoteAddress }, message);
  });
}

/**
 * One TCP listener per exposed service on tunnel-host:tunnelPort (seed "Direct Tunnel Connections").
 * Ports come from a configured range; the store remembers each service's port so it survives restarts.
 *
 * A tunnel port carries the service's own protocol as raw TCP: there is no handshake or header of ours to wait
 * for, so there is no header timeout to set here (an idle client is the service's business, as it would be on a
 * direct connection). What a port may hold is bounded by `connectionsPerPort` (node's server.maxConnections:
 * node closes the connection at once, before any handler sees it), and a connection to an offline service is
 * destroyed at once by the hub's connection handler.
 */
export class TunnelPorts {
  private readonly listeners = new Map<number, Server>();
  private readonly owners = new Map<number, TunnelOwner>();
  /** Live connections per port, ended when the port closes (its service went offline, its key was revoked). */
  private readonly sockets = new Map<number, Set<Socket>>();
  /** One warn line at once, then at most one per DROP_WARN_INTERVAL_MS for all ports: refusals cost a peer a SYN. */
  private readonly warnRefused: (port: number, from: string | undefined) => void;

  constructor(
    private readonly host: string,
    private readonly range: { low: number; high: number },
    private readonly onConnection: (owner: TunnelOwner | undefined, socket: Socket) => void,
    private readonly log: Logger,
    /** Connections open at once on one port (HubLimits.connectionsPerTunnelPort). */
    private readonly connectionsPerPort: number,
    /** Peers that may connect (`--tunnel-allow`); undefined: any (the tunnel host is loopback). */
    private readonly allow?: BlockList,
  ) {
    this.warnRefused = throttle(DROP_WARN_INTERVAL_MS, (refused: number, port: number, from?: string) => {
      const service = this.owners.get(port)?.name;
      log.warn(
        { port, service, from, refused },
        `tunnel port ${port} (service '${service ?? '?'}') refused a connection from ${from ?? '?'}: not in --tunnel-allow`,
      );
    });
  }

  inRange(port: number): boolean {
    return port >= this.range.low && port <= this.range.high;
  }

  /** Picks the lowest port of the range that no service holds and that this machine lets us bind. */
  async allocate(used: Set<number>, owner: TunnelOwner): Promise<number | undefined> {
    for (let port = this.range.low; port <= this.range.high; port++) {
      if (used.has(port) || this.listeners.has(port)) continue;
      if (await this.listen(port, owner)) return port;
    }
    return undefined;
  }

  /** Binds the listener for a port; false when the port is taken by something else on this machine. */
  async listen(port: number, owner: TunnelOwner): Promise<boolean> {
    this.owners.set(port, owner);
    if (this.listeners.has(port)) return true;
    const server = createServer({ allowHalfOpen: true, noDelay: true }, (socket) => {
      if (this.allow && !isAllowed(this.allow, socket.remoteAddress)) {
        socket.on('error', () => undefined);
        socket.destroy();
        this.warnRefused(port, socket.remoteAddress);
        return;
      }
      let live = this.sockets.get(port);
      if (!live) this.sockets.set(port, (live = new Set()));
      live.add(socket);
      socket.once('close', () => live.delete(socket));
      this.onConnection(this.owners.get(port), socket);
    });
    server.maxConnections = this.connectionsPerPort;
    server.on(
      'drop',
      warnOnDrop(this.log, () => {
        const service = this.owners.get(port)?.name;
        const limit = this.connectionsPerPort;
        return {
          fields: { port, service, limit },
          message: `tunnel port ${port} (service '${service ?? '?'}') refused a connection: it already holds ${limit} connections (the hub's limit is ${limit})`,
        };
      }),
    );
    const bound = await new Promise<boolean>((resolve) => {
      server.once('error', () => resolve(false));
      server.listen({ host: this.host, port, exclusive: true }, () => resolve(true));
    });
    if (!bound) {
      this.owners.delete(port);
      return false;
    }
    server.on('error', (err) => this.log.warn({ port, err: err.message }, 'tunnel listener error'));
    this.listeners.set(port, server);
    return true;
  }

  /** Closes a port's listener and ends its live connections (TCP RST: the stream did not end cleanly). */
  async release(port: number): Promise<void> {
    const server = this.listeners.get(port);
    this.owners.delete(port);
    const live = this.sockets.get(port);
    this.sockets.delete(port);
    for (const socket of live ?? []) {
      try {
        socket.resetAndDestroy();
      } catch {
        socket.destroy();
      }
    }
    if (!server) return;
    this.listeners.delete(port);
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** Closes the tunnel port of a service, if it has one open (it went offline: nobody serves it any more). */
  async releaseService(workspaceId: string, name: ServiceName): Promise<void> {
    for (const [port, owner] of this.owners) {
      if (owner.workspaceId === workspaceId && owner.name === name) await this.release(port);
    }
  }

  async closeAll(): Promise<void> {
    await Promise.all([...this.listeners.keys()].map((port) => this.release(port)));
  }

  get bound(): number[] {
    return [...this.listeners.keys()];
  }
}
