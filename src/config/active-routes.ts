import { paths } from './paths.js';
import { readFileIfExists, writeJsonAtomic } from './atomic-file.js';
import { withFileLock } from './file-lock.js';
import { isAlive } from './process-check.js';
import { isServiceProtocol, type ServiceProtocol } from '../api/service-protocol.js';

/** One local listener opened by `connect reach` (seed: ~/.connect/active-routes.json). */
export interface ActiveRoute {
  serviceName: string;
  localPort: number;
  pid: number;
  startedAt: string;
  /** What the service speaks, as the hub listed it when the route was opened (the proxy forwards only HTTP). */
  protocol?: ServiceProtocol;
}

function parse(text: string | undefined): ActiveRoute[] {
  if (!text) return [];
  try {
    const value: unknown = JSON.parse(text);
    if (!Array.isArray(value)) return [];
    return value.filter(
      (r): r is ActiveRoute =>
        typeof r === 'object' &&
        r !== null &&
        typeof (r as ActiveRoute).serviceName === 'string' &&
        Number.isInteger((r as ActiveRoute).localPort) &&
        Number.isInteger((r as ActiveRoute).pid) &&
        ((r as ActiveRoute).protocol === undefined || isServiceProtocol((r as ActiveRoute).protocol)),
    );
  } catch {
    // A torn or hand-edited file must not break reach or the proxy: treat it as empty, it is rewritten soon.
    return [];
  }
}

/** Routes whose process is still alive; entries of dead pids are pruned on every read. */
export function loadActiveRoutes(): ActiveRoute[] {
  return parse(readFileIfExists(paths.activeRoutes())).filter((r) => isAlive(r.pid));
}

async function update(change: (routes: ActiveRoute[]) => ActiveRoute[]): Promise<void> {
  const file = paths.activeRoutes();
  await withFileLock(file, () => {
    const routes = change(loadActiveRoutes());
    writeJsonAtomic(file, routes, 0o600);
  });
}

export async function addActiveRoute(route: ActiveRoute): Promise<void> {
  await update((routes) => [
    ...routes.filter((r) => !(r.pid === route.pid && r.serviceName === route.serviceName)),
    route,
  ]);
}

export async function removeActiveRoutes(pid: number, serviceName?: string): Promise<void> {
  await update((routes) =>
    routes.filter((r) => !(r.pid === pid && (serviceName === undefined || r.serviceName === serviceName))),
  );
}
