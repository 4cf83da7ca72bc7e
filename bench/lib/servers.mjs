/**
 * The target services, run as their own process (so the client's event loop is not the server's):
 *   echo — writes back every byte it reads (with backpressure: pipe pauses reading while the write side is full);
 *   sink — counts bytes until the client's FIN, then answers the count as text and closes (the built-in
 *          throughput generator, used where iperf3 is not installed).
 * Prints one JSON line {"echo":PORT,"sink":PORT} and runs until its stdin closes or it gets SIGTERM.
 */
import { createServer } from 'node:net';

/** @param {import('node:net').Server} server */
const listen = (server) =>
  new Promise((resolve) =>
    server.listen({ host: '127.0.0.1', port: 0, backlog: 4096 }, () =>
      resolve(/** @type {import('node:net').AddressInfo} */ (server.address()).port),
    ),
  );

const echo = createServer({ allowHalfOpen: true, noDelay: true }, (socket) => {
  socket.on('error', () => socket.destroy());
  socket.pipe(socket);
});

const sink = createServer({ allowHalfOpen: true, noDelay: true }, (socket) => {
  let n = 0;
  socket.on('error', () => socket.destroy());
  socket.on('data', (d) => (n += d.length));
  socket.on('end', () => socket.end(`${n}\n`));
});

const ports = { echo: await listen(echo), sink: await listen(sink) };
process.stdout.write(`${JSON.stringify(ports)}\n`);
process.stdin.resume();
process.stdin.on('end', () => process.exit(0));
process.on('SIGTERM', () => process.exit(0));
