import { createServer, type DropArgument, type Server, type Socket } from 'node:net';
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

  constructor(
    private readonly host: string,
    private readonly range: { low: number; high: number },
    private readonly onConnection: (owner: TunnelOwner | undefined, socket: Socket) => void,
    private readonly log: Logger,
    /** Connections open at once on one port (HubLimits.connectionsPerTunnelPort). */
    private readonly connectionsPerPort: number,
  ) {}

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
    const server = createServer({ allowHalfOpen: true, noDelay: true }, (socket) =>
      this.onConnection(this.owners.get(port), socket),
    );
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

  async release(port: number): Promise<void> {
    const server = this.listeners.get(port);
    this.owners.delete(port);
    if (!server) return;
    this.listeners.delete(port);
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  async closeAll(): Promise<void> {
    await Promise.all([...this.listeners.keys()].map((port) => this.release(port)));
  }

  get bound(): number[] {
    return [...this.listeners.keys()];
  }
}
