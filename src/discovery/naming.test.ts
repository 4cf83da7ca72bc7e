import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseServiceName } from '../api/service-name.js';
import { serviceName, slugify } from './naming.js';

describe('serviceName', () => {
  it('follows the seed: web-PORT for unnamed web servers, TYPE-PORT otherwise', () => {
    expect(serviceName({ type: 'http', details: 'Next.js App' }, 3000)).toBe('web-3000');
    expect(serviceName({ type: 'https', details: '' }, 8443)).toBe('web-8443');
    expect(serviceName({ type: 'postgres', details: '' }, 5432)).toBe('postgres-5432');
    expect(serviceName({ type: 'redis', details: '' }, 6379)).toBe('redis-6379');
  });

  it('names a web app after its page title', () => {
    expect(serviceName({ type: 'http', details: '', title: 'Grafana' }, 3000)).toBe('grafana-3000');
    expect(serviceName({ type: 'http', details: '', title: 'My Shop — Admin!' }, 80)).toBe(
      'my-shop-admin-80',
    );
    expect(serviceName({ type: 'http', details: '', title: '日本語' }, 80)).toBe('web-80');
  });

  it('always yields a name `connect expose` accepts', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 200 }), fc.integer({ min: 1, max: 65535 }), (title, port) => {
        const name = serviceName({ type: 'http', details: '', title }, port);
        expect(parseServiceName(name)).toBe(name);
      }),
    );
  });
});

describe('slugify', () => {
  it('keeps letters and digits, folds accents, trims dashes', () => {
    expect(slugify('  Café Déjà-Vu  ')).toBe('cafe-deja-vu');
    expect(slugify('---')).toBe('');
  });
});
