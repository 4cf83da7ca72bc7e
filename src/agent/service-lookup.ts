import type { HubApi } from './hub-api.js';
import type { ServiceView } from '../api/views.js';
import { ConnectError, ErrorCodes } from '../api/errors.js';
import type { ServiceName } from '../api/service-name.js';

/** The service of that name, or a NOT_FOUND error that lists what the workspace does have. */
export async function requireService(api: HubApi, name: ServiceName): Promise<ServiceView> {
  const service = await api.service(name);
  if (service) return service;
  const all = await api.services();
  const names = all.map((s) => `${s.name}${s.status === 'offline' ? ' (offline)' : ''}`);
  throw new ConnectError(
    ErrorCodes.NOT_FOUND,
    `no service named '${name}'`,
    names.length
      ? `Available services: ${names.join(', ')}`
      : 'No services are exposed in this workspace yet.',
  );
}
