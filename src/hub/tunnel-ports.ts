import { createServer, type Server, type Socket } from 'node:net';
import type { Logger } from 'pino';
import { ConnectError, ErrorCodes } from '../util/errors.js';

/**
 * One TCP listener per exposed service on tunnel-host:tunnelPort (seed "Direct Tunnel Connections").
 * Ports come from a configured range; the store remembers each service's port so it survives restarts.
 */
/** Which service a tunnel port belongs to, kept in memory so a new connection needs no database query. */
export interface TunnelOwner {
  workspaceId: string;
  name: string;
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

export class TunnelPorts {
  private readonly listeners = new Map<number, Server>();
  private readonly owners = new Map<number, TunnelOwner>();

  constructor(
    private readonly host: string,
    private readonly range: { low: number; high: number },
    private readonly onConnection: (owner: TunnelOwner | undefined, socket: Socket) => void,
    private readonly log: Logger,
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
