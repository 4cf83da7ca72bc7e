import type { FastifyReply, FastifyRequest } from 'fastify';
import type { ApiKeyRecord, Store } from '../store/index.js';
import { verifyApiKey } from '../api-keys.js';
import { sendError } from '../http-errors.js';
import { ErrorCodes } from '../../api/errors.js';
import { ApiErrorBodySchema } from '../../api/http-bodies.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by the auth hook on every /v1 route: the workspace the presented key belongs to. */
    workspaceId: string;
    apiKeyId: string;
    /** The presented key's record (its role, services and expiry decide what the request may do). */
    apiKey: ApiKeyRecord;
  }
}

/** What the OpenAPI document says every keyed route needs. */
export const security = [{ apiKey: [] }];

/** The failures every keyed route may answer with (their body is the API error body). */
export const authErrors = {
  400: ApiErrorBodySchema,
  401: ApiErrorBodySchema,
  403: ApiErrorBodySchema,
  404: ApiErrorBodySchema,
} as const;

/** The onRequest hook of every keyed route: a live key in `x-api-key`, or 401 before the handler runs. */
export function apiKeyHook(store: Store) {
  return async (req: FastifyRequest, reply: FastifyReply): Promise<void> => {
    const header = req.headers['x-api-key'];
    const key = typeof header === 'string' ? await verifyApiKey(store, header) : undefined;
    if (!key) {
      await sendError(
        reply,
        ErrorCodes.UNAUTHORIZED,
        'missing, invalid, revoked or expired API key (send it in x-api-key)',
      );
      return;
    }
    req.workspaceId = key.workspaceId;
    req.apiKeyId = key.id;
    req.apiKey = key;
  };
}
