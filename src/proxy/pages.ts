/**
 * The proxy's own answers (index, 404 unknown service, 502 upstream down, 508 loop): HTML for browsers
 * (Accept: text/html), JSON when asked (Accept: application/json), plain text otherwise (curl).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';

export type Format = 'html' | 'json' | 'text';

export function formatFor(req: IncomingMessage): Format {
  const accept = (req.headers.accept ?? '').toLowerCase();
  if (accept.includes('application/json')) return 'json';
  if (accept.includes('text/html')) return 'html';
  return 'text';
}

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

export interface Page {
  status: number;
  title: string;
  /** Paragraphs of plain text. */
  lines: string[];
  /** Names to list as links to `http://<name>.localhost:<port>/`. */
  links?: string[];
  json: Record<string, unknown>;
}

export function sendPage(req: IncomingMessage, res: ServerResponse, page: Page, proxyPort: number): void {
  const format = formatFor(req);
  let body: string;
  let type: string;
  if (format === 'json') {
    body = JSON.stringify(page.json, null, 2) + '\n';
    type = 'application/json; charset=utf-8';
  } else if (format === 'html') {
    const links = (page.links ?? [])
      .map((n) => `<li><a href="http://${escapeHtml(n)}.localhost:${proxyPort}/">${escapeHtml(n)}</a></li>`)
      .join('');
    body =
      `<!doctype html><html><head><meta charset="utf-8"><title>${escapeHtml(page.title)}</title>` +
      `<style>body{font-family:system-ui,sans-serif;max-width:40rem;margin:3rem auto;padding:0 1rem}</style></head><body>` +
      `<h1>${escapeHtml(page.title)}</h1>` +
      page.lines.map((l) => `<p>${escapeHtml(l)}</p>`).join('') +
      (links ? `<ul>${links}</ul>` : '') +
      `<p><small>Private Connect proxy</small></p></body></html>\n`;
    type = 'text/html; charset=utf-8';
  } else {
    const links = (page.links ?? []).map((n) => `  http://${n}.localhost:${proxyPort}/`);
    body = [page.title, ...page.lines, ...links].join('\n') + '\n';
    type = 'text/plain; charset=utf-8';
  }
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res.writeHead(page.status, {
    'content-type': type,
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
  });
  res.end(req.method === 'HEAD' ? undefined : body);
}
