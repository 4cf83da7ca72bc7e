import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { Store } from '../store/index.js';
import { WhoamiViewSchema } from '../../api/views.js';
import { authErrors, security } from './auth.js';

/** GET /v1/whoami (keyed). */
export function registerWhoamiRoutes(v1: FastifyInstance, store: Store): void {
  v1.withTypeProvider<TypeBoxTypeProvider>().get(
    '/v1/whoami',
    {
      schema: {
        summary: 'The workspace of the presented key',
        security,
        response: { 200: WhoamiViewSchema, ...authErrors },
      },
    },
    async (req) => {
      const ws = await store.getWorkspace(req.workspaceId);
      return {
        workspace: ws?.name ?? '',
        workspaceId: req.workspaceId,
        keyId: req.apiKeyId,
        role: req.apiKey.role,
        services: req.apiKey.services,
        expiresAt: req.apiKey.expiresAt,
      };
    },
  );
}
