/**
 * Handing an exposure to the agent already running on this machine (`connect up`, the daemon): the exposure is
 * written to ~/.connect/exposures.json, which the agent watches and serves (and restores after a restart); this
 * side then waits until the hub shows the service online and served by this agent.
 */
import { saveExposure, type Exposure } from '../config/exposures.js';
import type { HubApi } from '../agent/hub-api.js';
import type { ServiceView } from '../api/views.js';
import type { ServiceName } from '../api/service-name.js';
import { ConnectError, ErrorCodes } from '../api/errors.js';

/** How often the hub is asked while waiting, and for how long in all. */
const POLL_MS = 150;
const HANDOFF_TIMEOUT_MS = 10_000;

/** The service's view once the hub shows it online and served by `agentId`; undefined at the deadline. */
export async function waitUntilServed(
  api: HubApi,
  name: ServiceName,
  agentId: string,
  timeoutMs = HANDOFF_TIMEOUT_MS,
): Promise<ServiceView | undefined> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const view = await api.service(name);
    if (view?.status === 'online' && view.agentId === agentId) return view;
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
  return undefined;
}

/**
 * Persists the exposure for the running agent (pid `agentPid`) and resolves with the hub's view once that agent
 * serves it. TIMEOUT when the hub does not show it online in time (the agent's log says why).
 */
export async function handOffToRunningAgent(
  api: HubApi,
  exposure: Exposure & { name: ServiceName },
  agentId: string,
  agentPid: number,
): Promise<ServiceView> {
  await saveExposure(exposure);
  const view = await waitUntilServed(api, exposure.name, agentId);
  if (!view) {
    throw new ConnectError(
      ErrorCodes.TIMEOUT,
      `handed '${exposure.name}' to the running agent (pid ${agentPid}), but the hub does not show it online yet`,
      'Check the agent’s log: connect daemon logs',
    );
  }
  return view;
}
