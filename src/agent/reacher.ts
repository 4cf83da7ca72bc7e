import type { Server, Socket } from 'node:net';
import { bridgeSocket } from '../protocol/socket-bridge.js';
import type { MuxStream } from '../protocol/stream.js';
import type { HubConnection, LogFn } from './hub-connection.js';
import { listenWithAutoSelect } from './local-listener.js';
import { messageOf } from '../api/errors.js';

/** How long a connection accepted while the hub is away waits for the session to come back. */
const RECONNECT_GRACE_MS = 15_000;

export interface ReachListener {
  serviceName: string;
  host: string;
  port: number;
  autoSelected: boolean;
  close(): Promise<void>;
}

/**
 * Opens a stream through the hub to a service. The stream is usable at once: bytes written before the far
 * side has dialled its target are carried within the stream's window, never dropped.
 */
export async function openServiceStream(conn: HubConnection, serviceName: string): Promise<MuxStream> {
  const mux = await conn.waitForSession(RECONNECT_GRACE_MS);
  return mux.openStream({ service: serviceName.toLowerCase() });
}

/** Connects one accepted client socket to the service. */
export function forwardSocket(conn: HubConnection, serviceName: string, socket: Socket, log: LogFn): void {
  socket.on('error', () => socket.destroy());
  openServiceStream(conn, serviceName).then(
    (stream) => {
      bridgeSocket(stream, socket);
      socket.resume();
      stream.once('reset', (info: { code: number; reason: string }) => {
        log('warn', `Connection to ${serviceName} reset: ${info.reason}`);
      });
    },
    (err: unknown) => {
      log('warn', `Cannot open a connection to ${serviceName}: ${messageOf(err)}`);
      socket.destroy();
    },
  );
}

/** A local listener whose every connection becomes a stream to `serviceName` (the core of `connect reach`). */
export async function reachService(
  conn: HubConnection,
  serviceName: string,
  opts: { host?: string; port: number; exact?: boolean; log: LogFn },
): Promise<ReachListener> {
  const host = opts.host ?? '127.0.0.1';
  const { server, port, autoSelected } = await listenWithAutoSelect(
    host,
    opts.port,
    (socket) => forwardSocket(conn, serviceName, socket, opts.log),
    opts.exact,
  );
  return {
    serviceName,
    host,
    port,
    autoSelected,
    close: () => closeServer(server),
  };
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}
