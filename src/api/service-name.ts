import { ConnectError, ErrorCodes } from './errors.js';
import { echoInput } from '../util/parse.js';

/**
 * A service's name as the hub, the agents and the proxy key it: validated and lower-cased once, here. Names are
 * DNS labels (the proxy routes `<name>.localhost`), and DNS is case-blind, so `Staging-DB` and `staging-db` are
 * one service. The brand makes the compiler refuse a raw string where a parsed name is meant.
 */
export type ServiceName = string & { readonly __brand: 'ServiceName' };

const DNS_LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

/** Validates and lower-cases a service name given by a user, a file or a peer. Throws BAD_INPUT otherwise. */
export function parseServiceName(value: string): ServiceName {
  const name = value.trim().toLowerCase();
  if (!DNS_LABEL.test(name)) {
    throw new ConnectError(
      ErrorCodes.BAD_INPUT,
      `invalid service name '${echoInput(value)}': use letters, digits and '-' (1-63 characters, no leading or trailing '-')`,
    );
  }
  return name as ServiceName;
}

/** True when `value` is already a valid, lower-cased service name (what the hub stores and sends). */
export function isServiceName(value: unknown): value is ServiceName {
  return typeof value === 'string' && DNS_LABEL.test(value);
}
