import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { isConnectError, type ErrorCode } from '../api/errors.js';

/** HTTP status for each stable error code the API can return. */
const STATUS: Partial<Record<ErrorCode, number>> = {
  BAD_INPUT: 400,
  UNAUTHORIZED: 401,
  NOT_FOUND: 404,
  CONFLICT: 409,
  LIMIT_REACHED: 429,
  NO_TUNNEL_PORT: 503,
  STORE_ERROR: 503,
};

export interface ApiErrorBody {
  statusCode: number;
  code: string;
  message: string;
}

export function sendError(
  reply: FastifyReply,
  statusCode: number,
  code: string,
  message: string,
): FastifyReply {
  return reply.code(statusCode).send({ statusCode, code, message } satisfies ApiErrorBody);
}

/**
 * Every failure becomes JSON with a stable code and the right status: schema violations and malformed JSON
 * are 400, oversized bodies 413; only a genuine bug is a 500, and its details stay in the log.
 */
export function errorHandler(log: Logger) {
  return (err: FastifyError, _req: FastifyRequest, reply: FastifyReply): FastifyReply => {
    if (isConnectError(err)) return sendError(reply, STATUS[err.code] ?? 400, err.code, err.message);
    if (err.validation) return sendError(reply, 400, 'BAD_INPUT', `invalid request: ${err.message}`);
    if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE')
      return sendError(reply, 413, 'BODY_TOO_LARGE', 'request body is too large');
    if (err.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') {
      return sendError(reply, 415, 'UNSUPPORTED_MEDIA_TYPE', 'send the request body as application/json');
    }
    const status = err.statusCode ?? 500;
    if (status >= 400 && status < 500) return sendError(reply, status, 'BAD_INPUT', err.message);
    log.error({ err: err.message, stack: err.stack }, 'request failed');
    return sendError(reply, 500, 'INTERNAL', 'internal error');
  };
}
