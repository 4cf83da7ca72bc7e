import { ConnectError, ErrorCodes } from '../api/errors.js';
import type { KeyRole } from '../api/key-role.js';
import type { ServiceName } from '../api/service-name.js';
import type { AgentRecord, ApiKeyRecord } from './store/index.js';

/**
 * Who may do what at the hub, in one place: every /v1 route, every CONTROL op and every OPEN asks here.
 * A refusal is a ConnectError FORBIDDEN (403 / RST REFUSED) whose one line names what the role may not do.
 */
export type KeyScope = Pick<ApiKeyRecord, 'id' | 'role' | 'services'>;

/** The acts only `admin` and `agent` keys may do. */
export type ManageAct = 'expose services' | 'unexpose services' | 'delete services' | 'change service grants';

/** Who reached what, with which key, from where: for the workspace's admins only. */
export function requireAdmin(key: Pick<KeyScope, 'role'>, act: string): void {
  if (key.role !== 'admin') throw forbidden(`${roleKey(key.role)} may not ${act}: only an admin key`);
}

export function forbidden(message: string): ConnectError {
  return new ConnectError(ErrorCodes.FORBIDDEN, message);
}

/** `expose`, `unexpose`, DELETE /v1/services: refused to `reach` keys. */
export function requireManage(key: Pick<KeyScope, 'role'>, act: ManageAct): void {
  if (key.role === 'reach') throw forbidden(`${roleKey(key.role)} may not ${act}`);
}

/** True when the key may reach `name`: its list, when it has one, names it. */
export function mayReach(key: Pick<KeyScope, 'services'>, name: ServiceName): boolean {
  return key.services === null || key.services.includes(name);
}

export function requireReach(key: Pick<KeyScope, 'services'>, name: ServiceName): void {
  if (!mayReach(key, name)) throw forbidden(`this API key may not reach '${name}' (not in its service list)`);
}

/**
 * Per-service grants (src/hub/grants.ts): no grants, every session may open the service; with grants, only its own
 * agent, an agent whose label is granted, or a session whose API key id is granted.
 */
export function isGranted(
  session: { agentId: string; agentLabel: string; apiKeyId: string },
  ownerAgentId: string,
  grants: readonly string[],
): boolean {
  if (grants.length === 0 || session.agentId === ownerAgentId) return true;
  return grants.includes(session.agentLabel) || grants.includes(session.apiKeyId);
}

/** Only the key that registered an agent, or an admin key, may act for it (connect as it, rename it). */
export function mayActFor(
  key: Pick<KeyScope, 'id' | 'role'>,
  agent: Pick<AgentRecord, 'createdByKey'>,
): boolean {
  return key.role === 'admin' || agent.createdByKey === key.id;
}

export function requireActFor(
  key: Pick<KeyScope, 'id' | 'role'>,
  agent: Pick<AgentRecord, 'id' | 'createdByKey'>,
  act: string,
): void {
  if (!mayActFor(key, agent)) {
    throw forbidden(
      `${roleKey(key.role)} may not ${act} agent ${agent.id}: only the key that registered it, or an admin key`,
    );
  }
}

/** `reach` keys see only the agents they registered; the others see every agent of the workspace. */
export function maySee(
  key: Pick<KeyScope, 'id' | 'role'>,
  agent: Pick<AgentRecord, 'createdByKey'>,
): boolean {
  return key.role !== 'reach' || agent.createdByKey === key.id;
}

/** "an admin key", "an agent key", "a reach key". */
export function roleKey(role: KeyRole): string {
  return `${role === 'reach' ? 'a' : 'an'} ${role} key`;
}
