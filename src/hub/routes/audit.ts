import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { Store } from '../store/index.js';
import type { AuditLog } from '../audit.js';
import { sendError } from '../http-errors.js';
import { ErrorCodes } from '../../api/errors.js';
import { parseServiceName } from '../../api/service-name.js';
import { AuditViewSchema, type AuditView } from '../../api/views.js';
import { AUDIT_PAGE_DEFAULT, AUDIT_PAGE_MAX, AuditQuerySchema } from '../../api/http-bodies.js';
import { echoInput } from '../../util/parse.js';
import { authErrors, security } from './auth.js';
import { requireAdmin } from '../access.js';

/** /v1/audit (keyed): the reaches of the key's workspace's services, newest first. */
export function registerAuditRoutes(v1: FastifyInstance, store: Store, audit: AuditLog): void {
  const app = v1.withTypeProvider<TypeBoxTypeProvider>();

  app.get(
    '/v1/audit',
    {
      schema: {
        summary: 'Reaches of the workspace’s services (newest first)',
        security,
        querystring: AuditQuerySchema,
        response: { 200: Type.Array(AuditViewSchema), ...authErrors },
      },
    },
    async (req, reply) => {
      requireAdmin(req.apiKey, 'read the audit log');
      const limit = req.query.limit === undefined ? AUDIT_PAGE_DEFAULT : Number(req.query.limit);
      if (limit < 1 || limit > AUDIT_PAGE_MAX) {
        return sendError(reply, ErrorCodes.BAD_INPUT, `limit must be 1 to ${AUDIT_PAGE_MAX}`);
      }
      let service: string | undefined;
      if (req.query.service !== undefined) {
        try {
          service = parseServiceName(req.query.service);
        } catch {
          return sendError(
            reply,
            ErrorCodes.BAD_INPUT,
            `'${echoInput(req.query.service)}' is not a service name`,
          );
        }
      }
      // Rows still batched in memory are part of the answer.
      await audit.flush();
      const rows = await store.listAudit(req.workspaceId, { ...(service && { service }), limit });
      return rows.map(({ workspaceId: _, ...row }): AuditView => row);
    },
  );
}
