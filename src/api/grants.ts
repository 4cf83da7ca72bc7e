import { ConnectError, ErrorCodes } from './errors.js';
import { echoInput } from '../util/parse.js';

/**
 * Per-service grants: who may reach a service whose exposer restricted it. A grantee is an agent label (as
 * `connect up --label` set it) or an API key id (the 16 hex digits `connect hub keys list` shows). Parsed here
 * once, for the CLI, the CONTROL `expose` request and the HTTP routes alike.
 */

/** The most grantees one service may have. */
export const MAX_GRANTS_PER_SERVICE = 64;

/** What an agent label may be (src/api/http-bodies.ts), so any label, and any key id, can be granted. */
export const GRANTEE_PATTERN = '^[\\w.@:-][\\w .@:-]{0,62}$';
const GRANTEE = new RegExp(GRANTEE_PATTERN);

export function parseGrantee(value: string): string {
  const grantee = value.trim();
  if (!GRANTEE.test(grantee)) {
    throw new ConnectError(
      ErrorCodes.BAD_INPUT,
      `invalid grantee '${echoInput(value)}': give an agent label or an API key id (letters, digits, '.@:-', up to 63)`,
    );
  }
  return grantee;
}

/** `a,b` `c` → [a, b, c], each parsed, duplicates dropped; at most MAX_GRANTS_PER_SERVICE. */
export function parseGrantees(values: readonly string[]): string[] {
  const grantees = [
    ...new Set(
      values
        .flatMap((v) => v.split(','))
        .filter((v) => v.trim() !== '')
        .map(parseGrantee),
    ),
  ];
  if (grantees.length > MAX_GRANTS_PER_SERVICE) {
    throw new ConnectError(
      ErrorCodes.BAD_INPUT,
      `${grantees.length} grantees: a service may have at most ${MAX_GRANTS_PER_SERVICE}`,
    );
  }
  return grantees;
}

/** The one line a reaching agent gets when a service's grants leave it out. */
export function grantRefusal(name: string): string {
  return `access to ${name} refused: this agent is not granted (ask its owner: connect expose grant ${name} <label>)`;
}

/** True when a stream's reset reason is the hub's grant refusal for `name` (the reaching side's one line). */
export function isGrantRefusal(name: string, reason: string | undefined): reason is string {
  return reason === grantRefusal(name);
}
