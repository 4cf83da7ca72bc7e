import { createServer, type Server, type Socket } from 'node:net';
import { ConnectError, ErrorCodes } from '../api/errors.js';

/** How far past the asked-for port `reach` looks for a free one (seed: "→ localhost:5433 (auto-selected)"). */
const AUTO_SELECT_SPAN = 100;

function tryListen(server: Server, host: string, port: number): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException): void => {
      server.off('listening', onListening);
      if (err.code === 'EADDRINUSE' || err.code === 'EACCES') resolve(false);
      else reject(err);
    };
    const onListening = (): void => {
      server.off('error', onError);
      resolve(true);
    };
    server.once('error', onError);
    server.once('listening', onListening);
    server.listen({ host, port, exclusive: true });
  });
}

/**
 * Listens on host:port, or on the next free port when it is taken (unless `exact`). Returns the server and
 * the port actually bound.
 */
export async function listenWithAutoSelect(
  host: string,
  port: number,
  onConnection: (socket: Socket) => void,
  exact = false,
): Promise<{ server: Server; port: number; autoSelected: boolean }> {
  const server = createServer({ allowHalfOpen: true, noDelay: true, pauseOnConnect: true }, onConnection);
  const last = exact || port === 0 ? port : Math.min(65535, port + AUTO_SELECT_SPAN);
  for (let candidate = port; candidate <= last; candidate++) {
    if (await tryListen(server, host, candidate)) {
      const bound = (server.address() as { port: number }).port;
      // Accept errors (EMFILE when out of descriptors) must not crash reach/dev/proxy: that one
      // connection fails, the listener stays.
      server.on('error', () => undefined);
      return { server, port: bound, autoSelected: port !== 0 && bound !== port };
    }
  }
  throw new ConnectError(
    ErrorCodes.PORT_UNAVAILABLE,
    exact ? `port ${port} on ${host} is already in use` : `no free port on ${host} from ${port} to ${last}`,
  );
}
