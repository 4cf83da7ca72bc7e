import { paths } from './paths.js';
import { readFileIfExists, writeJsonAtomic } from './atomic-file.js';
import { withFileLock } from './file-lock.js';
import type { ServiceProtocol } from '../api/service-protocol.js';

/**
 * Exposures the agent restores on every start (seed: "Daemon keeps it running even after reboot").
 * `connect expose` adds to this file when an agent is running; the agent watches it.
 */
export interface Exposure {
  name: string;
  targetHost: string;
  targetPort: number;
  protocol: ServiceProtocol;
  createdAt: string;
  /** `expose --allow`: grantees sent with every expose of it (adding to the service's grants at the hub). */
  allow?: string[];
}

export function loadExposures(): Exposure[] {
  const text = readFileIfExists(paths.exposures());
  if (!text) return [];
  try {
    const value: unknown = JSON.parse(text);
    if (!Array.isArray(value)) return [];
    return value.filter(
      (e): e is Exposure =>
        typeof e === 'object' &&
        e !== null &&
        typeof (e as Exposure).name === 'string' &&
        typeof (e as Exposure).targetHost === 'string' &&
        Number.isInteger((e as Exposure).targetPort),
    );
  } catch {
    return [];
  }
}

async function update(change: (list: Exposure[]) => Exposure[]): Promise<void> {
  const file = paths.exposures();
  await withFileLock(file, () => writeJsonAtomic(file, change(loadExposures()), 0o600));
}

export async function saveExposure(exposure: Exposure): Promise<void> {
  await update((list) => [...list.filter((e) => e.name !== exposure.name), exposure]);
}

/** Returns whether the exposure existed. */
export async function deleteExposure(name: string): Promise<boolean> {
  let found = false;
  await update((list) => {
    found = list.some((e) => e.name === name);
    return list.filter((e) => e.name !== name);
  });
  return found;
}
