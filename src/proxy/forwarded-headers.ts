/**
 * The headers the proxy rewrites on what it forwards: hop-by-hop headers (and those a Connection header lists) are
 * dropped both ways, X-Forwarded-For/-Host/-Proto are set, and `Via: 1.1 private-connect-<id>` is appended. A request
 * that already carries this proxy's id has looped back to it.
 */
import type { IncomingHttpHeaders, IncomingMessage, OutgoingHttpHeaders } from 'node:http';

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

/** The names of the headers set here; an upgrade's re-written head drops the client's own copies of them. */
export const FORWARDED_HEADER_NAMES: ReadonlySet<string> = new Set([
  'x-forwarded-for',
  'x-forwarded-host',
  'x-forwarded-proto',
  'via',
]);

function listedInConnection(headers: IncomingHttpHeaders): Set<string> {
  const value = headers.connection;
  return new Set(
    (Array.isArray(value) ? value.join(',') : (value ?? ''))
      .split(',')
      .map((t) => t.trim().toLowerCase())
      .filter(Boolean),
  );
}

/** The end-to-end headers of a message: without hop-by-hop ones, those its Connection lists, and `skip`. */
function endToEnd(headers: IncomingHttpHeaders, skip?: string): OutgoingHttpHeaders {
  const listed = listedInConnection(headers);
  const out: OutgoingHttpHeaders = {};
  for (const [key, value] of Object.entries(headers)) {
    if (value !== undefined && !HOP_BY_HOP.has(key) && !listed.has(key) && key !== skip) out[key] = value;
  }
  return out;
}

function appendHeader(existing: string | string[] | undefined, value: string): string {
  const prior = Array.isArray(existing) ? existing.join(', ') : existing;
  return prior ? `${prior}, ${value}` : value;
}

/** Whether a request has a body to pipe upstream (a chunked one, or a non-zero Content-Length). */
export function hasBody(req: IncomingMessage): boolean {
  if (req.headers['transfer-encoding'] !== undefined) return true;
  const length = req.headers['content-length'];
  return length !== undefined && length !== '0';
}

/** An upstream response's headers as they go back to the client. */
export function responseHeaders(headers: IncomingHttpHeaders): OutgoingHttpHeaders {
  return endToEnd(headers);
}

/** This proxy's mark on what it forwards, by its id. */
export class ProxyStamp {
  private readonly via: string;

  constructor(private readonly id: string) {
    this.via = `1.1 private-connect-${id}`;
  }

  /** A request whose Via already names this proxy came back to it: forwarding it again would loop for ever. */
  isLoop(req: IncomingMessage): boolean {
    const via = req.headers.via;
    return (
      via !== undefined && (Array.isArray(via) ? via.join(',') : via).includes(`private-connect-${this.id}`)
    );
  }

  /** X-Forwarded-For/-Host/-Proto and Via, as this proxy sends them upstream. */
  forwarded(req: IncomingMessage): Record<string, string> {
    const client = (req.socket.remoteAddress ?? '').replace(/^::ffff:/, '');
    return {
      'x-forwarded-for': appendHeader(req.headers['x-forwarded-for'], client),
      'x-forwarded-host': String(req.headers['x-forwarded-host'] ?? req.headers.host ?? ''),
      'x-forwarded-proto': String(req.headers['x-forwarded-proto'] ?? 'http'),
      via: appendHeader(req.headers.via, this.via),
    };
  }

  /** A plain request's headers as they go upstream. */
  requestHeaders(req: IncomingMessage): OutgoingHttpHeaders {
    // `expect` is answered by this server already (100-continue); passing it on would make the upstream wait.
    const out = endToEnd(req.headers, 'expect');
    Object.assign(out, this.forwarded(req));
    // A streamed body of unknown length stays chunked whatever the method (node only chunks POST-like ones by default).
    if (req.headers['transfer-encoding'] !== undefined) out['transfer-encoding'] = 'chunked';
    return out;
  }
}
