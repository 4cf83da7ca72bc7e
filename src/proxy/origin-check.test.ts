import { describe, expect, it } from 'vitest';
import type { IncomingMessage } from 'node:http';
import { crossSiteRefusal, isSameOrigin, mayListNames } from './origin-check.js';

const req = (method: string, headers: Record<string, string>): IncomingMessage =>
  ({ method, headers: { host: 'svc.localhost:9999', ...headers } }) as unknown as IncomingMessage;

describe('origin check', () => {
  it('same origin is the origin of the request’s own Host, over http', () => {
    expect(isSameOrigin('http://svc.localhost:9999', 'svc.localhost:9999')).toBe(true);
    expect(isSameOrigin('http://SVC.localhost:9999', 'Svc.LocalHost:9999')).toBe(true);
    expect(isSameOrigin('http://svc.localhost', 'svc.localhost:80')).toBe(true);
    expect(isSameOrigin('http://other.localhost:9999', 'svc.localhost:9999')).toBe(false);
    expect(isSameOrigin('http://svc.localhost:9998', 'svc.localhost:9999')).toBe(false);
    expect(isSameOrigin('https://svc.localhost:9999', 'svc.localhost:9999')).toBe(false);
    expect(isSameOrigin('null', 'svc.localhost:9999')).toBe(false);
    expect(isSameOrigin('http://[::1]:9999', '[::1]:9999')).toBe(true);
  });

  it('refuses another site’s state-changing requests and upgrades; requests no page made pass', () => {
    expect(crossSiteRefusal(req('POST', {}), false)).toBeUndefined();
    expect(crossSiteRefusal(req('POST', { origin: 'http://svc.localhost:9999' }), false)).toBeUndefined();
    expect(crossSiteRefusal(req('GET', { origin: 'https://evil.example' }), false)).toBeUndefined();
    expect(crossSiteRefusal(req('POST', { origin: 'https://evil.example' }), false)).toMatch(
      /refused a POST request from another site \(Origin https:\/\/evil\.example\)/,
    );
    expect(crossSiteRefusal(req('DELETE', { 'sec-fetch-site': 'cross-site' }), false)).toMatch(
      /Sec-Fetch-Site: cross-site/,
    );
    expect(crossSiteRefusal(req('GET', { origin: 'http://evil.example' }), true)).toMatch(/upgrade/);
    expect(crossSiteRefusal(req('GET', { origin: 'http://svc.localhost:9999' }), true)).toBeUndefined();
    expect(crossSiteRefusal(req('GET', {}), true)).toBeUndefined();
    // Pages of this machine pass, whatever Sec-Fetch-Site says of sibling origins; the internet's do not.
    for (const origin of [
      'http://web.localhost:9999',
      'http://localhost:3000',
      'http://127.0.0.1:5173',
      'http://[::1]:8080',
    ]) {
      expect(
        crossSiteRefusal(req('POST', { origin, 'sec-fetch-site': 'cross-site' }), false),
        origin,
      ).toBeUndefined();
      expect(crossSiteRefusal(req('GET', { origin }), true), origin).toBeUndefined();
    }
    for (const origin of ['http://svc.localhost.evil.example', 'http://10.0.0.5:9999', 'null', 'file://']) {
      expect(crossSiteRefusal(req('POST', { origin }), false), origin).toMatch(/another site/);
    }
    const long = crossSiteRefusal(req('PUT', { origin: `http://${'x'.repeat(500)}\n` }), false) ?? '';
    expect(long.length).toBeLessThan(200);
  });

  it('lists names only to the own origin or to a request no page made', () => {
    expect(mayListNames(req('GET', {}))).toBe(true);
    expect(mayListNames(req('GET', { 'sec-fetch-site': 'none' }))).toBe(true);
    expect(mayListNames(req('GET', { 'sec-fetch-site': 'same-origin' }))).toBe(true);
    expect(mayListNames(req('GET', { 'sec-fetch-site': 'cross-site' }))).toBe(false);
    expect(mayListNames(req('GET', { 'sec-fetch-site': 'same-site' }))).toBe(false);
    expect(mayListNames(req('GET', { origin: 'http://evil.example' }))).toBe(false);
    expect(mayListNames(req('GET', { origin: 'http://svc.localhost:9999' }))).toBe(true);
  });
});
