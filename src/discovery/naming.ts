import type { Identification, ServiceType } from './types.js';

/** The name prefix per type: `web` for HTTP(S) as in the seed (`web-3000`), else the type itself. */
const PREFIX: Partial<Record<ServiceType, string>> = { http: 'web', https: 'web' };

/** Longest title slug kept, so that `slug-PORT` stays a valid DNS label (63 characters). */
const MAX_SLUG = 40;

/** `My Shop — Admin` → `my-shop-admin`; empty when nothing usable is left. */
export function slugify(text: string): string {
  const slug = text
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '') // the accents NFKD split off: é → e, not e-
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '');
  return slug.slice(0, MAX_SLUG).replace(/-+$/, '');
}

/**
 * A service name that `connect expose` accepts: `TYPE-PORT`, `web-PORT`, or the page title's slug plus the
 * port (`grafana-3000`). The port keeps names unique when several instances of one app run side by side.
 */
export function serviceName(identification: Identification, port: number): string {
  const slug = identification.title ? slugify(identification.title) : '';
  if (slug) return `${slug}-${port}`;
  return `${PREFIX[identification.type] ?? identification.type}-${port}`;
}
