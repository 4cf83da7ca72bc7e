import type { Server, Socket } from 'node:net';
import { bridgeSocket } from '../protocol/socket-bridge.js';
import type { MuxStream } from '../protocol/stream.js';
import type { HubConnection } from './hub-connection.js';
import type { AgentEventSink } from './agent-events.js';
import { parseServiceName, type ServiceName } from '../api/service-name.js';
import { listenWithAutoSelect } from './local-listener.js';
import { messageOf } from '../api/errors.js';
import { isGrantRefusal } from '../api/grants.js';

/** How long a connection accepted while the hub is away waits for the session to come back. */
const RECONNECT_GRACE_MS = 15_000;

export interface ReachListener {
  serviceName: ServiceName;
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
  // Parsed here, where the name goes on the wire, for the callers that hold a name as a plain string.
  const service = parseServiceName(serviceName);
  const mux = await conn.waitForSession(RECONNECT_GRACE_MS);
  return mux.openStream({ service });
}

/** Connects one accepted client socket to the service. */
export function forwardSocket(
  conn: HubConnection,
  serviceName: ServiceName,
  socket: Socket,
  events: AgentEventSink,
): void {
  socket.on('error', () => socket.destroy());
  openServiceStream(conn, serviceName).then(
    (stream) => {
      bridgeSocket(stream, socket);
      socket.resume();
      stream.once('reset', (info: { code: number; reason: string }) => {
        if (isGrantRefusal(serviceName, info.reason))
          events({ type: 'reach-refused', name: serviceName, reason: info.reason });
        else events({ type: 'reach-reset', name: serviceName, reason: info.reason });
      });
    },
    (err: unknown) => {
      events({ type: 'reach-open-failed', name: serviceName, reason: messageOf(err) });
      socket.destroy();
    },
  );
}

/** A local listener whose every connection becomes a stream to `serviceName` (the core of `connect reach`). */
export async function reachService(
  conn: HubConnection,
  serviceName: ServiceName,
  opts: { host?: string; port: number; exact?: boolean; events: AgentEventSink },
): Promise<ReachListener> {
  const host = opts.host ?? '127.0.0.1';
  const { server, port, autoSelected } = await listenWithAutoSelect(
    host,
    opts.port,
    (socket) => forwardSocket(conn, serviceName, socket, opts.events),
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
