import type { Logger } from 'pino';
import type { AgentSession } from './registry.js';
import type { ServiceManager } from './services.js';
import { isConnectError, messageOf } from '../api/errors.js';
import { echoInput } from '../util/parse.js';
import { parseServiceName } from '../api/service-name.js';
import type { ServiceProtocol } from './store/index.js';

const PROTOCOLS: readonly ServiceProtocol[] = ['tcp', 'http', 'https'];

type Reply = Record<string, unknown>;

/** Request ids are small integers: a reply echoes the id, so an id is never a string or object of any size. */
export const MAX_RID = 2 ** 31 - 1;

function fail(rid: number | undefined, code: string, message: string): Reply {
  return { op: 'result', rid, ok: false, code, message };
}

function isRid(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= MAX_RID;
}

/**
 * Control requests an agent sends over its session (CONTROL frames, JSON). Every field is validated here:
 * the hub never trusts what a client says about ids or hosts. Returns the reply to send, if any.
 */
export async function handleControl(
  session: AgentSession,
  msg: Record<string, unknown>,
  services: ServiceManager,
  log: Logger,
): Promise<Reply | undefined> {
  if (msg.rid !== undefined && !isRid(msg.rid)) {
    // Answered without the id: the sender cannot match the reply, and we echo nothing it chose.
    return fail(undefined, 'BAD_INPUT', `rid must be an integer from 0 to ${MAX_RID}`);
  }
  const rid = msg.rid;
  try {
    switch (msg.op) {
      case 'expose': {
        const name = parseServiceName(typeof msg.name === 'string' ? msg.name : '');
        const targetHost =
          typeof msg.targetHost === 'string' && msg.targetHost.length <= 255 ? msg.targetHost : '';
        const targetPort = Number(msg.targetPort);
        const protocol = (PROTOCOLS as readonly unknown[]).includes(msg.protocol)
          ? (msg.protocol as ServiceProtocol)
          : 'tcp';
        if (!targetHost || !Number.isInteger(targetPort) || targetPort < 1 || targetPort > 65535) {
          return fail(rid, 'BAD_INPUT', 'expose needs a target host and a port from 1 to 65535');
        }
        const service = await services.expose(session, { name, targetHost, targetPort, protocol });
        return { op: 'result', rid, ok: true, service };
      }
      case 'unexpose': {
        const name = parseServiceName(typeof msg.name === 'string' ? msg.name : '');
        const found = await services.unexpose(
          session.workspaceId,
          session.agentId,
          name,
          msg.remove === true,
          session.id,
        );
        if (!found) return fail(rid, 'NOT_FOUND', `no service named '${name}'`);
        return { op: 'result', rid, ok: true };
      }
      default:
        return rid === undefined
          ? undefined
          : fail(rid, 'BAD_INPUT', `unknown control operation '${echoInput(msg.op)}'`);
    }
  } catch (err) {
    if (isConnectError(err)) return fail(rid, err.code, err.message);
    log.error({ err: messageOf(err), op: echoInput(msg.op) }, 'control request failed');
    return fail(rid, 'INTERNAL', 'the hub could not complete the request');
  }
}
