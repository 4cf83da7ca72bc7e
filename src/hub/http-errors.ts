import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { ErrorCodes, isConnectError, messageOf, type ErrorCode } from '../api/errors.js';
import { httpStatusOf } from '../api/error-catalogue.js';
import type { ApiErrorBody } from '../api/http-bodies.js';

export type { ApiErrorBody };

/** Answers with the error body; the status is the catalogue's for `code` (src/api/error-catalogue.ts). */
export function sendError(reply: FastifyReply, code: ErrorCode, message: string): FastifyReply {
  const statusCode = httpStatusOf(code);
  return reply.code(statusCode).send({ statusCode, code, message } satisfies ApiErrorBody);
}

/**
 * Every failure becomes JSON with a stable code and the right status: schema violations and malformed JSON
 * are 400, oversized bodies 413; only a genuine bug is a 500, and its details stay in the log.
 */
export function errorHandler(log: Logger) {
  return (err: FastifyError, _req: FastifyRequest, reply: FastifyReply): FastifyReply => {
    if (isConnectError(err)) return sendError(reply, err.code, err.message);
    if (err.validation) return sendError(reply, ErrorCodes.BAD_INPUT, `invalid request: ${err.message}`);
    if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE')
      return sendError(reply, ErrorCodes.BODY_TOO_LARGE, 'request body is too large');
    if (err.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') {
      return sendError(reply, ErrorCodes.UNSUPPORTED_MEDIA_TYPE, 'send the request body as application/json');
    }
    const status = err.statusCode ?? 500;
    if (status >= 400 && status < 500) {
      // Fastify's own 4xx (malformed JSON, a bad header...): its status stands, under our BAD_INPUT code.
      return reply
        .code(status)
        .send({ statusCode: status, code: ErrorCodes.BAD_INPUT, message: err.message });
    }
    log.error({ err: messageOf(err), stack: err.stack }, 'request failed');
    return sendError(reply, ErrorCodes.INTERNAL, 'internal error');
  };
}
