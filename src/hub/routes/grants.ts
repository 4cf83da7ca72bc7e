import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { sendError } from '../http-errors.js';
import { ErrorCodes } from '../../api/errors.js';
import { parseServiceName, type ServiceName } from '../../api/service-name.js';
import { ServiceParamsSchema } from '../../api/http-bodies.js';
import { GrantsViewSchema, GrantBodySchema, RevokeBodySchema } from '../../api/views.js';
import { parseGrantees } from '../../api/grants.js';
import { authErrors, security } from './auth.js';
import type { Store } from '../store/index.js';
import { changeGrants } from '../grants.js';

function nameInPath(raw: string): ServiceName | undefined {
  try {
    return parseServiceName(raw);
  } catch {
    return undefined;
  }
}

/**
 * /v1/services/:name/grants (keyed): grant and revoke who may reach a service (src/hub/grants.ts). HTTP routes
 * rather than CONTROL ops: changing grants needs no live session (the exposing agent may be offline, an admin may
 * do it from anywhere), and every route is checked by the same role rules and the role × route table.
 */
export function registerGrantRoutes(v1: FastifyInstance, store: Store): void {
  const app = v1.withTypeProvider<TypeBoxTypeProvider>();

  app.post(
    '/v1/services/:name/grants',
    {
      schema: {
        summary:
          'Grant agents (labels) or keys (ids) access to a service; only they and its agent may reach it',
        security,
        params: ServiceParamsSchema,
        body: GrantBodySchema,
        response: { 200: GrantsViewSchema, ...authErrors },
      },
    },
    async (req, reply) => {
      const name = nameInPath(req.params.name);
      if (!name) return sendError(reply, ErrorCodes.NOT_FOUND, `no service named '${req.params.name}'`);
      const add = parseGrantees(req.body.grantees);
      if (add.length === 0) return sendError(reply, ErrorCodes.BAD_INPUT, 'name at least one grantee');
      return { name, grants: await changeGrants(store, req.apiKey, name, { add }) };
    },
  );

  app.post(
    '/v1/services/:name/grants/revoke',
    {
      schema: {
        summary: 'Revoke grants of a service (`all`: every grant, opening it to the workspace again)',
        security,
        params: ServiceParamsSchema,
        body: RevokeBodySchema,
        response: { 200: GrantsViewSchema, ...authErrors },
      },
    },
    async (req, reply) => {
      const name = nameInPath(req.params.name);
      if (!name) return sendError(reply, ErrorCodes.NOT_FOUND, `no service named '${req.params.name}'`);
      const remove = req.body.all === true ? 'all' : parseGrantees(req.body.grantees ?? []);
      if (remove !== 'all' && remove.length === 0)
        return sendError(reply, ErrorCodes.BAD_INPUT, 'name at least one grantee, or revoke all');
      return { name, grants: await changeGrants(store, req.apiKey, name, { remove }) };
    },
  );
}
