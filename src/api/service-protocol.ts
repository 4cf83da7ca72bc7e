/** How the proxy may speak to a service: raw TCP, or HTTP(S) it can route by Host. */
export const SERVICE_PROTOCOLS = ['tcp', 'http', 'https'] as const;

export type ServiceProtocol = (typeof SERVICE_PROTOCOLS)[number];

export function isServiceProtocol(value: unknown): value is ServiceProtocol {
  return (SERVICE_PROTOCOLS as readonly unknown[]).includes(value);
}
