/**
 * Servers for discovery tests, all on 127.0.0.1 port 0: a plain TCP forwarder, HTTP and HTTPS servers with a
 * title and a Server header, a MongoDB OP_MSG responder, and ports that never answer or close at once.
 */
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';

export interface Running {
  port: number;
  close(): Promise<void>;
}

/** Whether something accepts TCP connections on 127.0.0.1:port (within 1 s). */
export function reachable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1000, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/** Listens on 127.0.0.1:0 and tracks connections, so that close() never waits on a client. */
async function listen(server: net.Server): Promise<Running> {
  const sockets = new Set<net.Socket>();
  server.on('connection', (socket: net.Socket) => {
    sockets.add(socket);
    socket.on('error', () => {});
    socket.on('close', () => sockets.delete(socket));
  });
  // TLS servers report the raw connection on 'connection' too; their error events must not throw.
  server.on('tlsClientError', () => {});
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

/** A plain byte pipe to 127.0.0.1:targetPort: the service is reachable on a port that says nothing about it. */
export function startForwarder(targetPort: number): Promise<Running> {
  return listen(
    net.createServer((client) => {
      const upstream = net.connect({ host: '127.0.0.1', port: targetPort });
      client.pipe(upstream).pipe(client);
      client.on('error', () => upstream.destroy());
      upstream.on('error', () => client.destroy());
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    }),
  );
}

const page = (title: string): string =>
  `<!doctype html><html><head><meta charset="utf-8"><title>${title}</title></head><body>hi</body></html>`;

function handler(title: string, serverHeader: string): http.RequestListener {
  return (_req, res) => {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', server: serverHeader });
    res.end(page(title));
  };
}

export function startHttp(title: string, serverHeader: string): Promise<Running> {
  return listen(http.createServer(handler(title, serverHeader)));
}

export { selfSignedCert } from './cert.js';

export function startHttps(
  cert: { key: string; cert: string },
  title: string,
  serverHeader: string,
): Promise<Running> {
  return listen(https.createServer(cert, handler(title, serverHeader)));
}

/** Accepts connections and never says a word (nor closes). */
export function startSilent(): Promise<Running> {
  return listen(net.createServer(() => {}));
}

/** Closes every connection as soon as it is accepted. */
export function startClosing(): Promise<Running> {
  return listen(net.createServer((socket) => socket.destroy()));
}

// --- MongoDB ----------------------------------------------------------------------------------------------
// Written from the public specs, independently of src/discovery, so that a shared mistake cannot pass:
// OP_MSG https://www.mongodb.com/docs/manual/reference/mongodb-wire-protocol/#op_msg, BSON https://bsonspec.org

type Bson = Record<string, number | string | boolean>;

/** A tiny BSON encoder: int32 (0x10), double (0x01), string (0x02), boolean (0x08). */
export function bson(doc: Bson): Buffer {
  const elements = Object.entries(doc).map(([key, value]) => {
    const name = Buffer.concat([Buffer.from(key, 'utf8'), Buffer.from([0])]);
    if (typeof value === 'boolean')
      return Buffer.concat([Buffer.from([0x08]), name, Buffer.from([value ? 1 : 0])]);
    if (typeof value === 'string') {
      const text = Buffer.concat([Buffer.from(value, 'utf8'), Buffer.from([0])]);
      const length = Buffer.alloc(4);
      length.writeInt32LE(text.length);
      return Buffer.concat([Buffer.from([0x02]), name, length, text]);
    }
    if (Number.isInteger(value)) {
      const int = Buffer.alloc(4);
      int.writeInt32LE(value);
      return Buffer.concat([Buffer.from([0x10]), name, int]);
    }
    const double = Buffer.alloc(8);
    double.writeDoubleLE(value);
    return Buffer.concat([Buffer.from([0x01]), name, double]);
  });
  const body = Buffer.concat([...elements, Buffer.from([0])]);
  const size = Buffer.alloc(4);
  size.writeInt32LE(body.length + 4);
  return Buffer.concat([size, body]);
}

/** The first key of the kind-0 section of an OP_MSG: the command name. */
function commandName(message: Buffer): string {
  const start = 21 + 4 + 1; // header, flagBits, section kind, then the document's size and first element type
  const end = message.indexOf(0, start);
  return message.subarray(start, end).toString('utf8');
}

/**
 * Answers OP_MSG `hello` (and legacy `isMaster`) like a standalone mongod 7.0 primary; anything else that is
 * not an OP_MSG closes the connection, as mongod does.
 */
export function startMongoResponder(): Promise<Running> {
  return listen(
    net.createServer((socket) => {
      let buffered = Buffer.alloc(0);
      socket.on('data', (chunk: Buffer) => {
        buffered = Buffer.concat([buffered, chunk]);
        while (buffered.length >= 16) {
          const length = buffered.readInt32LE(0);
          if (length < 16 || length > 48_000_000 || buffered.readInt32LE(12) !== 2013) {
            socket.destroy();
            return;
          }
          if (buffered.length < length) return;
          const message = buffered.subarray(0, length);
          buffered = buffered.subarray(length);
          const command = commandName(message);
          const reply =
            command === 'hello' || command === 'isMaster'
              ? bson({
                  helloOk: true,
                  isWritablePrimary: true,
                  maxBsonObjectSize: 16777216,
                  maxWireVersion: 21,
                  minWireVersion: 0,
                  localTime: 0,
                  ok: 1.0,
                })
              : bson({ ok: 0.0, errmsg: `no such command: '${command}'`, code: 59 });
          const header = Buffer.alloc(21);
          header.writeInt32LE(21 + reply.length, 0);
          header.writeInt32LE(1, 4); // requestID
          header.writeInt32LE(message.readInt32LE(4), 8); // responseTo: the request's id
          header.writeInt32LE(2013, 12);
          header.writeUInt32LE(0, 16);
          header.writeUInt8(0, 20);
          socket.write(Buffer.concat([header, reply]));
        }
      });
      socket.on('error', () => {});
    }),
  );
}
