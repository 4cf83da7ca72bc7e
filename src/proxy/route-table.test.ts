import { describe, expect, it } from 'vitest';
import type { ServiceView } from '../api/views.js';
import { buildRouteTable, findRoute, hostnameOf, serviceNameOf } from './route-table.js';

const svc = (name: string, status: 'online' | 'offline' = 'online'): ServiceView => ({
  id: `svc_${name}`,
  name,
  targetPort: 5432,
  tunnelPort: 45001,
  status,
  protocol: 'tcp',
  agentId: 'agent_x',
  agentLabel: 'server',
  createdAt: '2026-03-02T10:00:00Z',
});

describe('route table', () => {
  it('a local route wins over a hub service of the same name; names are case-insensitive', () => {
    const table = buildRouteTable(
      [svc('Backend-API'), svc('frontend', 'offline')],
      [{ serviceName: 'backend-api', localPort: 8080, pid: 1, startedAt: '' }],
    );
    expect(findRoute(table, 'BACKEND-api.localhost:9999')).toMatchObject({ source: 'local', port: 8080 });
    expect(findRoute(table, 'frontend.localhost')).toMatchObject({
      source: 'hub',
      name: 'frontend',
      status: 'offline',
    });
    expect(findRoute(table, 'other.localhost:9999')).toBeNull();
  });

  it('a local route takes the protocol its reach recorded, else the hub service’s', () => {
    const table = buildRouteTable(
      [svc('db'), { ...svc('web'), protocol: 'http' }],
      [
        { serviceName: 'db', localPort: 1, pid: 1, startedAt: '' },
        { serviceName: 'web', localPort: 2, pid: 1, startedAt: '' },
        { serviceName: 'api', localPort: 3, pid: 1, startedAt: '', protocol: 'https' },
        { serviceName: 'old', localPort: 4, pid: 1, startedAt: '' },
      ],
    );
    expect(findRoute(table, 'db.localhost')?.protocol).toBe('tcp');
    expect(findRoute(table, 'web.localhost')?.protocol).toBe('http');
    expect(findRoute(table, 'api.localhost')?.protocol).toBe('https');
    expect(findRoute(table, 'old.localhost')?.protocol).toBeUndefined();
  });

  it('routes only <name>.localhost; the proxy’s own host names no service', () => {
    expect(serviceNameOf('backend-api.localhost:9999')).toBe('backend-api');
    expect(serviceNameOf('db.dev.example.com')).toBeUndefined();
    expect(serviceNameOf('db.localhost.example.com')).toBeUndefined();
    expect(serviceNameOf('api.localhost.')).toBe('api');
    expect(serviceNameOf('localhost:9999')).toBeUndefined();
    expect(serviceNameOf('127.0.0.1:9999')).toBeUndefined();
    expect(serviceNameOf('[::1]:9999')).toBeUndefined();
    expect(serviceNameOf(undefined)).toBeUndefined();
    expect(hostnameOf('[::1]:9999')).toBe('::1');
  });
});
