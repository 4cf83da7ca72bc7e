import { ConnectError, ErrorCodes } from '../api/errors.js';
import { grantRefusal, MAX_GRANTS_PER_SERVICE } from '../api/grants.js';
import type { ServiceName } from '../api/service-name.js';
import { isGranted, requireActFor, requireManage, type KeyScope } from './access.js';
import type { ServiceRecord, Store } from './store/index.js';

/**
 * Per-service grants at the hub (migration 0004_service_grants). A service with grants may be opened only by its
 * own agent, an agent whose label is granted, or a session whose API key id is granted (src/hub/access.ts
 * `isGranted`); the gateway asks `openRefusal` on every OPEN. Only the key that registered the service's agent, or
 * an admin key, may change them (`changeGrants`, behind the /v1/services/:name/grants routes and `expose --allow`).
 */

export type GrantChange = { add: string[] } | { remove: string[] | 'all' };

/**
 * The grants of every service, by `workspaceId/name`, kept in memory so that an OPEN is decided at once (as before
 * grants: an OPEN waiting on the store would count against the session's pending-OPEN limit). Loaded at hub start
 * (`loadGrants`), written through on every change below and dropped when a service is removed (`forgetGrants`).
 */
const caches = new WeakMap<Store, Map<string, string[]>>();
const cacheKey = (workspaceId: string, name: string): string => `${workspaceId}/${name}`;

export async function loadGrants(store: Store): Promise<void> {
  const cache = new Map<string, string[]>();
  for (const g of await store.listAllGrants()) {
    const key = cacheKey(g.workspaceId, g.name);
    cache.set(key, [...(cache.get(key) ?? []), g.grantee]);
  }
  caches.set(store, cache);
}

export function forgetGrants(store: Store, workspaceId: string, name: string): void {
  caches.get(store)?.delete(cacheKey(workspaceId, name));
}

type Opener = { workspaceId: string; agentId: string; agentLabel: string; apiKeyId: string };

/**
 * The refusal line for an OPEN of `name` (served by agent `ownerAgentId`) by `session`, or undefined when its
 * grants let it through. Decided from the cache; a store without a loaded cache is asked (a Promise).
 */
export function openRefusal(
  store: Store,
  session: Opener,
  name: ServiceName,
  ownerAgentId: string,
): string | undefined | Promise<string | undefined> {
  const cache = caches.get(store);
  if (cache) {
    const grants = cache.get(cacheKey(session.workspaceId, name)) ?? [];
    return isGranted(session, ownerAgentId, grants) ? undefined : grantRefusal(name);
  }
  return store.findServiceByName(session.workspaceId, name).then(async (service) => {
    if (!service) return undefined;
    const grants = await store.listGrants(service.id);
    return isGranted(session, service.agentId, grants) ? undefined : grantRefusal(name);
  });
}

/** The service's grants, refused unless `key` may act for the service's agent. */
async function ownedService(
  store: Store,
  key: KeyScope & { workspaceId: string },
  name: ServiceName,
): Promise<ServiceRecord> {
  requireManage(key, 'change service grants');
  const service = await store.findServiceByName(key.workspaceId, name);
  if (!service) throw new ConnectError(ErrorCodes.NOT_FOUND, `no service named '${name}'`);
  const owner = await store.findAgent(key.workspaceId, service.agentId);
  requireActFor(
    key,
    { id: service.agentId, createdByKey: owner?.createdByKey ?? null },
    'change the grants of the services of',
  );
  return service;
}

/** Grants or revokes; returns the service's grants after the change (empty: every key may reach it). */
export async function changeGrants(
  store: Store,
  key: KeyScope & { workspaceId: string },
  name: ServiceName,
  change: GrantChange,
): Promise<string[]> {
  const service = await ownedService(store, key, name);
  return applyGrants(store, service, change);
}

/** The change on a service already known to be the caller's (an `expose --allow` from its own agent). */
export async function applyGrants(
  store: Store,
  service: Pick<ServiceRecord, 'id' | 'workspaceId' | 'name'>,
  change: GrantChange,
): Promise<string[]> {
  const current = await store.listGrants(service.id);
  if ('add' in change) {
    const after = new Set([...current, ...change.add]);
    if (after.size > MAX_GRANTS_PER_SERVICE) {
      throw new ConnectError(
        ErrorCodes.LIMIT_REACHED,
        `'${service.name}' would have ${after.size} grantees: a service may have at most ${MAX_GRANTS_PER_SERVICE}`,
        `Revoke some first: connect expose revoke ${service.name} <label|key-id>`,
      );
    }
    await store.addGrants(service.workspaceId, service.id, change.add);
  } else if (change.remove === 'all') {
    await store.removeGrants(service.id, 'all');
  } else {
    const left = current.filter((g) => !(change.remove as string[]).includes(g));
    // Without grants a service is open to the whole workspace: emptying the list must be said, not slipped into.
    if (current.length > 0 && left.length === 0) {
      throw new ConnectError(
        ErrorCodes.CONFLICT,
        `revoking the last grant would open '${service.name}' to every key of the workspace`,
        `To do that: connect expose revoke ${service.name} --all`,
      );
    }
    await store.removeGrants(service.id, change.remove);
  }
  const after = await store.listGrants(service.id);
  const cache = caches.get(store);
  if (after.length > 0) cache?.set(cacheKey(service.workspaceId, service.name), after);
  else cache?.delete(cacheKey(service.workspaceId, service.name));
  return after;
}
