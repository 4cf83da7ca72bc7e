import type { Logger } from 'pino';
import type { AgentSession } from './registry.js';
import type { ServiceManager } from './services.js';
import { ErrorCodes, isConnectError, messageOf, type ErrorCode } from '../api/errors.js';
import { echoInput } from '../util/parse.js';
import { parseServiceName } from '../api/service-name.js';
import { SERVICE_PROTOCOLS } from '../api/service-protocol.js';
import { MAX_GRANTS_PER_SERVICE } from '../api/grants.js';
import { MAX_RID, type ControlReply, type ControlRequest, type ResultFail } from '../api/control.js';
import { checkControlRequest, type RequestCheck } from '../api/control-check.js';
import { requireManage } from './access.js';
import { parseGrantees } from '../api/grants.js';

export { MAX_RID } from '../api/control.js';

function fail(rid: number | undefined, code: ErrorCode, message: string): ResultFail {
  return { op: 'result', rid, ok: false, code, message };
}

function isRid(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= MAX_RID;
}

/** The one line a request with a bad field gets (what the sender must change, never the whole value). */
function invalidField(
  check: Extract<RequestCheck, { reason: 'invalid' }>,
  msg: Record<string, unknown>,
): string {
  switch (check.field) {
    case 'targetHost':
    case 'targetPort':
      return 'expose needs a target host and a port from 1 to 65535';
    case 'protocol':
      return `unknown protocol '${echoInput(msg.protocol)}': use one of ${SERVICE_PROTOCOLS.join(', ')}`;
    case 'name':
      return `${check.op} needs a service name`;
    case 'remove':
      return 'remove must be true or false';
    case 'allow':
      return `allow must be a list of at most ${MAX_GRANTS_PER_SERVICE} agent labels or API key ids`;
    default:
      return `invalid ${check.op} request: ${echoInput(check.field)} ${check.error.message ?? 'is invalid'}`;
  }
}

/**
 * Control requests an agent sends over its session (CONTROL frames, JSON). Every field is checked against the
 * schemas of src/api/control.ts before anything acts on it: the hub never trusts what a client says about ids or
 * hosts. Returns the reply to send, if any.
 */
export async function handleControl(
  session: AgentSession,
  msg: Record<string, unknown>,
  services: ServiceManager,
  log: Logger,
): Promise<ControlReply | undefined> {
  if (msg.rid !== undefined && !isRid(msg.rid)) {
    // Answered without the id: the sender cannot match the reply, and we echo nothing it chose.
    return fail(undefined, ErrorCodes.BAD_INPUT, `rid must be an integer from 0 to ${MAX_RID}`);
  }
  const rid = msg.rid;
  const check = checkControlRequest(msg);
  if (!check.ok) {
    if (check.reason === 'invalid') return fail(rid, ErrorCodes.BAD_INPUT, invalidField(check, msg));
    return rid === undefined
      ? undefined
      : fail(rid, ErrorCodes.BAD_INPUT, `unknown control operation '${echoInput(msg.op)}'`);
  }
  try {
    return await dispatch(session, check.request, services);
  } catch (err) {
    if (isConnectError(err)) return fail(rid, err.code, err.message);
    log.error({ err: messageOf(err), op: check.request.op }, 'control request failed');
    return fail(rid, ErrorCodes.INTERNAL, 'the hub could not complete the request');
  }
}

async function dispatch(
  session: AgentSession,
  request: ControlRequest,
  services: ServiceManager,
): Promise<ControlReply> {
  const { rid } = request;
  switch (request.op) {
    case 'expose': {
      requireManage(session, 'expose services');
      const name = parseServiceName(request.name);
      const service = await services.expose(session, {
        name,
        targetHost: request.targetHost,
        targetPort: request.targetPort,
        protocol: request.protocol ?? 'tcp',
        allow: parseGrantees(request.allow ?? []),
      });
      return { op: 'result', rid, ok: true, service };
    }
    case 'unexpose': {
      requireManage(session, 'unexpose services');
      const name = parseServiceName(request.name);
      const found = await services.unexpose(
        session.workspaceId,
        session.agentId,
        name,
        request.remove === true,
        session.id,
      );
      if (!found) return fail(rid, ErrorCodes.NOT_FOUND, `no service named '${name}'`);
      return { op: 'result', rid, ok: true };
    }
  }
}
