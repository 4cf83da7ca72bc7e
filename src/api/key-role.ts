/**
 * What an API key may do at the hub (`connect hub keys create --role`):
 * - `admin`: everything in its workspace (every key created before roles existed is one);
 * - `agent`: what an agent does: register agents, expose and unexpose its own agents' services, reach, list;
 * - `reach`: reach services (only the key's listed ones, when it has a list) with agents it registered itself;
 *   never expose, unexpose, delete, nor see or act for other keys' agents.
 */
export const KEY_ROLES = ['admin', 'agent', 'reach'] as const;
export type KeyRole = (typeof KEY_ROLES)[number];

/** The role `keys create` gives when `--role` is not passed: admin, what every key could do before roles. */
export const DEFAULT_KEY_ROLE: KeyRole = 'admin';

export function isKeyRole(value: unknown): value is KeyRole {
  return typeof value === 'string' && (KEY_ROLES as readonly string[]).includes(value);
}
