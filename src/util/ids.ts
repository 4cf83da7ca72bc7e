import { randomBytes } from 'node:crypto';

/** Random ids with a readable type prefix, as the seed shows them: `svc_3f9a…`, `agent_7c01…`. */
export function newId(prefix: string, bytes = 8): string {
  return `${prefix}_${randomBytes(bytes).toString('hex')}`;
}
