import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RouteSource } from './route-source.js';

let home: string;
let savedHome: string | undefined;

function writeRoutes(routes: { serviceName: string; localPort: number }[]): void {
  const dir = join(home, '.connect');
  mkdirSync(dir, { recursive: true });
  const entries = routes.map((r) => ({ ...r, pid: process.pid, startedAt: '' }));
  writeFileSync(join(dir, 'active-routes.json'), JSON.stringify(entries));
}

beforeEach(() => {
  savedHome = process.env.HOME;
  home = mkdtempSync(join(tmpdir(), 'route-source-'));
  process.env.HOME = home;
});

afterEach(() => {
  if (savedHome === undefined) delete process.env.HOME;
  else process.env.HOME = savedHome;
  rmSync(home, { recursive: true, force: true });
});

describe('route source', () => {
  it('a Host names the proxy itself, a service label, or nothing this proxy serves', () => {
    const source = new RouteSource({ log: () => undefined });
    expect(source.askedFor('localhost:9999')).toEqual({ kind: 'proxy' });
    expect(source.askedFor('127.0.0.1:9999')).toEqual({ kind: 'proxy' });
    expect(source.askedFor('[::1]:9999')).toEqual({ kind: 'proxy' });
    expect(source.askedFor('Backend-API.localhost:9999')).toEqual({ kind: 'service', label: 'backend-api' });
    expect(source.askedFor('api.localhost.')).toEqual({ kind: 'service', label: 'api' });
    for (const host of [
      undefined,
      '',
      'staging-api.rebind.evil:9999',
      'db.dev.example.com',
      'a.b.localhost:9999',
      '.localhost',
      '192.168.1.20:9999',
      '127.0.0.2:9999',
      '[fe80::1]:9999',
      'localhost:abc',
      'user@svc.localhost',
    ]) {
      expect(source.askedFor(host)).toEqual({ kind: 'misdirected', host: (host ?? '').trim() });
    }
  });

  it('resolves a label to a local route; a label that is not a service name has no route', async () => {
    writeRoutes([{ serviceName: 'backend-api', localPort: 8080 }]);
    const source = new RouteSource({ log: () => undefined });
    await source.load();
    expect(await source.resolve('backend-api')).toMatchObject({ source: 'local', port: 8080 });
    expect(await source.resolve('other')).toBeUndefined();
    expect(await source.resolve('not_a_name')).toBeUndefined();
    expect(source.describe()).toEqual([{ name: 'backend-api', source: 'local', target: 'localhost:8080' }]);
  });

  it('a route added after load is found on the first miss, without waiting for a refresh', async () => {
    const source = new RouteSource({ log: () => undefined });
    await source.load();
    writeRoutes([{ serviceName: 'frontend', localPort: 3000 }]);
    expect(await source.resolve('frontend')).toMatchObject({ source: 'local', port: 3000 });
  });
});
