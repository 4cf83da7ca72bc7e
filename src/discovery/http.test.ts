import { describe, expect, it } from 'vitest';
import { describeHttp, httpComplete, httpRequest, pageTitle, parseHttpResponse } from './http.js';

const response = (head: string, body = ''): Buffer => Buffer.from(`${head}\r\n\r\n${body}`);

describe('parseHttpResponse', () => {
  it('reads status, headers (first value wins) and body', () => {
    const parsed = parseHttpResponse(
      response('HTTP/1.1 200 OK\r\nServer: nginx/1.25\r\nserver: other', '<p>x</p>'),
    );
    expect(parsed?.status).toBe(200);
    expect(parsed?.headers.get('server')).toBe('nginx/1.25');
    expect(parsed?.body).toBe('<p>x</p>');
  });
  it('de-chunks a chunked body, even a partial one', () => {
    const body = '7\r\n<title>\r\n5\r\nHello\r\n8\r\n</title>\r\n3\r\nabc';
    const parsed = parseHttpResponse(response('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked', body));
    expect(parsed?.body).toBe('<title>Hello</title>abc');
  });
  it('is null for anything but an HTTP response head', () => {
    expect(parseHttpResponse(Buffer.from('+PONG\r\n'))).toBeNull();
    expect(parseHttpResponse(Buffer.from('HTTP/1.1 200 OK\r\nServer: x'))).toBeNull();
  });
});

describe('httpComplete', () => {
  it('is complete once the title, the head, or the announced body is in', () => {
    expect(httpComplete(response('HTTP/1.1 200 OK', '<html><head><title>x</title>'))).toBe(true);
    expect(httpComplete(response('HTTP/1.1 204 No Content\r\nContent-Length: 0'))).toBe(true);
    expect(httpComplete(response('HTTP/1.1 200 OK\r\nContent-Length: 100', '<html>'))).toBe(false);
  });
});

describe('pageTitle', () => {
  it('decodes entities and whitespace, and drops control characters', () => {
    expect(pageTitle('<TITLE lang="en">\n  Tom &amp; Jerry&#39;s &#x263A;\u001b[31m </TITLE>')).toBe(
      "Tom & Jerry's ☺ [31m",
    );
    expect(pageTitle('<title></title>')).toBeUndefined();
  });
});

describe('describeHttp', () => {
  const parsed = (head: string, body = ''): NonNullable<ReturnType<typeof parseHttpResponse>> =>
    parseHttpResponse(response(head, body)) ?? expect.fail('not parsed');

  it('says "Next.js App" for a Next.js server without a title, as in the seed', () => {
    expect(describeHttp('http', parsed('HTTP/1.1 200 OK\r\nX-Powered-By: Next.js')).details).toBe(
      'Next.js App',
    );
  });
  it('lists title, framework and server once each', () => {
    const id = describeHttp(
      'http',
      parsed('HTTP/1.1 200 OK\r\nServer: nginx', '<title>Shop</title><div id="__nuxt">'),
    );
    expect(id).toEqual({ type: 'http', details: 'Shop, Nuxt, nginx', title: 'Shop' });
  });
  it('shows an error status and ignores the error page title', () => {
    const id = describeHttp(
      'http',
      parsed('HTTP/1.1 404 Not Found\r\nServer: nginx', '<title>404 Not Found</title>'),
    );
    expect(id).toEqual({ type: 'http', details: 'nginx, HTTP 404' });
  });
});

describe('httpRequest', () => {
  it('is a complete GET of / that closes the connection', () => {
    const request = httpRequest({ address: '::1', port: 8080, hostname: '::1' });
    expect(request).toMatch(/^GET \/ HTTP\/1\.1\r\nHost: \[::1\]:8080\r\n/);
    expect(request).toMatch(/Connection: close\r\n\r\n$/);
  });
});
