import net from 'node:net';
import { ask, type Reply } from './conversation.js';
import type { ClientFirstProber } from './probe.js';
import { printable } from './probe.js';
import type { Identification, ServiceType, Target } from './types.js';

export interface HttpResponse {
  status: number;
  /** Header names lower-cased; a repeated header keeps its first value. */
  headers: Map<string, string>;
  /** The body received so far (de-chunked), as text. */
  body: string;
}

/** Enough of the body to find `<title>` on any sane page. */
const BODY_LIMIT = 32 * 1024;

/** A GET of `/` with `Connection: close`: the request every web server answers, and one that changes nothing. */
export function httpRequest(target: Target): string {
  const name = net.isIPv6(target.hostname) ? `[${target.hostname}]` : target.hostname;
  return (
    `GET / HTTP/1.1\r\nHost: ${name}:${target.port}\r\nUser-Agent: private-connect-discover\r\n` +
    `Accept: text/html,*/*\r\nConnection: close\r\n\r\n`
  );
}

/** Parses a (possibly partial) HTTP/1.x response; null when the bytes are not one. */
export function parseHttpResponse(data: Buffer): HttpResponse | null {
  const text = data.toString('latin1');
  const status = /^HTTP\/\d(?:\.\d)? (\d{3})/.exec(text);
  if (!status) return null;
  const headEnd = text.indexOf('\r\n\r\n');
  if (headEnd < 0) return null;
  const headers = new Map<string, string>();
  for (const row of text.slice(0, headEnd).split('\r\n').slice(1)) {
    const colon = row.indexOf(':');
    if (colon <= 0) continue;
    const name = row.slice(0, colon).trim().toLowerCase();
    if (!headers.has(name)) headers.set(name, row.slice(colon + 1).trim());
  }
  let body = data.subarray(headEnd + 4);
  if (/chunked/i.test(headers.get('transfer-encoding') ?? '')) body = dechunk(body);
  return { status: Number(status[1]), headers, body: body.toString('utf8') };
}

/** Decodes as many complete chunks as have arrived. */
function dechunk(data: Buffer): Buffer {
  const parts: Buffer[] = [];
  let at = 0;
  for (;;) {
    const lineEnd = data.indexOf('\r\n', at);
    if (lineEnd < 0) break;
    const size = parseInt(data.subarray(at, lineEnd).toString('latin1'), 16);
    if (!Number.isFinite(size) || size <= 0) break;
    const start = lineEnd + 2;
    parts.push(data.subarray(start, Math.min(start + size, data.length)));
    at = start + size + 2;
    if (at > data.length) break;
  }
  return Buffer.concat(parts);
}

/** The response is complete enough to describe: headers plus the page head (or the whole body). */
export function httpComplete(data: Buffer): boolean {
  const response = parseHttpResponse(data);
  if (!response) return false;
  const length = Number(response.headers.get('content-length') ?? NaN);
  const body = response.body;
  return (
    /<\/title>|<\/head>|<body/i.test(body) ||
    body.length >= BODY_LIMIT ||
    (Number.isFinite(length) && Buffer.byteLength(body) >= length)
  );
}

export function pageTitle(body: string): string | undefined {
  const match = /<title[^>]*>([\s\S]*?)<\/title>/i.exec(body);
  if (!match) return undefined;
  const title = printable(decodeEntities(match[1] ?? '').replace(/\s+/g, ' '), 80);
  return title || undefined;
}

function decodeEntities(text: string): string {
  const named: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", nbsp: ' ' };
  return text.replace(/&(#x[0-9a-f]+|#\d+|[a-z]+);/gi, (whole, code: string) => {
    if (code.startsWith('#x') || code.startsWith('#X'))
      return String.fromCodePoint(parseInt(code.slice(2), 16) || 32);
    if (code.startsWith('#')) return String.fromCodePoint(Number(code.slice(1)) || 32);
    return named[code.toLowerCase()] ?? whole;
  });
}

/** Framework hints from headers and markup: what a developer would call the app ("Next.js App"). */
export function frameworkHint(response: HttpResponse): string | undefined {
  const powered = response.headers.get('x-powered-by') ?? '';
  const body = response.body;
  if (/next\.js/i.test(powered) || /__NEXT_DATA__|\/_next\/static/.test(body)) return 'Next.js';
  if (/nuxt/i.test(powered) || /id="__nuxt"|\/_nuxt\//.test(body)) return 'Nuxt';
  if (/\/@vite\/client/.test(body)) return 'Vite';
  if (/ng-version=/.test(body)) return 'Angular';
  if (/^express$/i.test(powered)) return 'Express';
  if (/sveltekit/i.test(body)) return 'SvelteKit';
  if (/^werkzeug\//i.test(response.headers.get('server') ?? '')) return 'Flask';
  return undefined;
}

/** Details as `title, framework, server`, each only once; a bare framework reads "Next.js App" as in the seed. */
export function describeHttp(
  type: ServiceType,
  response: HttpResponse,
  extra: string[] = [],
): Identification {
  const title = response.status < 400 ? pageTitle(response.body) : undefined;
  const framework = frameworkHint(response);
  const server = printable(response.headers.get('server') ?? '', 40);
  const parts: string[] = [];
  if (title) parts.push(title);
  if (framework && !parts.some((p) => p.toLowerCase().includes(framework.toLowerCase()))) {
    parts.push(title ? framework : `${framework} App`);
  }
  if (server && !parts.some((p) => p.toLowerCase().includes(server.toLowerCase()))) parts.push(server);
  if (response.status >= 400) parts.push(`HTTP ${response.status}`);
  parts.push(...extra);
  return { type, details: parts.join(', '), ...(title ? { title } : {}) };
}

/** Asks `GET /` over an open channel (plain or TLS) and parses the answer. */
export async function getRoot(target: Target, deadline: number, tls: boolean): Promise<Reply | null> {
  return ask(target, httpRequest(target), httpComplete, deadline, { tls });
}

/** Messages TLS servers send back in plain HTTP when spoken to without TLS (nginx, Go, Apache). */
const PLAINTEXT_ON_TLS =
  /plain HTTP request was sent to HTTPS port|HTTP request to an HTTPS server|speaking plain HTTP to an SSL/i;

export const httpProber: ClientFirstProber = {
  name: 'http',
  hintPorts: [80, 3000, 3001, 4000, 4200, 5000, 5173, 8000, 8008, 8080, 8081, 8888, 9000, 9090, 9200],
  async probe(target, deadline) {
    const reply = await getRoot(target, deadline, false);
    if (!reply) return { match: null };
    const response = parseHttpResponse(reply.data);
    if (!response) return { match: null, reply: reply.data };
    const match = describeHttp('http', response);
    // A 400 may be a TLS port complaining about plaintext: let the TLS probe have a go before settling.
    if (response.status === 400 || PLAINTEXT_ON_TLS.test(response.body)) match.tentative = true;
    return { match };
  },
};
