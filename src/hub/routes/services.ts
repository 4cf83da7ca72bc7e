import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { ServiceManager } from '../services.js';
import { sendError } from '../http-errors.js';
import { ErrorCodes } from '../../api/errors.js';
import { parseServiceName, type ServiceName } from '../../api/service-name.js';
import { ServiceViewSchema } from '../../api/views.js';
import { ServiceParamsSchema } from '../../api/http-bodies.js';
import { authErrors, security } from './auth.js';
import type { Store } from '../store/index.js';
import { mayReach, requireActFor, requireManage, requireReach } from '../access.js';

/** The name in a path, parsed; undefined for one no service can have (answered as any unknown name: 404). */
function nameInPath(raw: string): ServiceName | undefined {
  try {
    return parseServiceName(raw);
  } catch {
    return undefined;
  }
}

/** /v1/services (keyed): list, read and remove the services of the key's workspace. */
export function registerServiceRoutes(v1: FastifyInstance, services: ServiceManager, store: Store): void {
  const app = v1.withTypeProvider<TypeBoxTypeProvider>();
  const noService = (raw: string): string => `no service named '${raw}'`;

  app.get(
    '/v1/services',
    {
      schema: {
        summary: 'Services of the workspace (seed shape)',
        security,
        response: { 200: Type.Array(ServiceViewSchema), ...authErrors },
      },
    },
    // A key with a service list sees only those services (the others are no business of it).
    async (req) =>
      (await services.list(req.workspaceId)).filter((s) => mayReach(req.apiKey, s.name as ServiceName)),
  );

  app.get(
    '/v1/services/:name',
    {
      schema: {
        summary: 'One service by name',
        security,
        params: ServiceParamsSchema,
        response: { 200: ServiceViewSchema, ...authErrors },
      },
    },
    async (req, reply) => {
      const name = nameInPath(req.params.name);
      const service = name && (await services.get(req.workspaceId, name));
      if (!service) return sendError(reply, ErrorCodes.NOT_FOUND, noService(req.params.name));
      requireReach(req.apiKey, name);
      return service;
    },
  );

  app.delete(
    '/v1/services/:name',
    {
      schema: {
        summary: 'Remove a service and free its tunnel port',
        security,
        params: ServiceParamsSchema,
        response: { 204: Type.Null(), ...authErrors },
      },
    },
    async (req, reply) => {
      requireManage(req.apiKey, 'delete services');
      const name = nameInPath(req.params.name);
      const existing = name && (await store.findServiceByName(req.workspaceId, name));
      if (existing && req.apiKey.role !== 'admin') {
        // An agent key removes only the services of agents it registered.
        const owner = await store.findAgent(req.workspaceId, existing.agentId);
        requireActFor(
          req.apiKey,
          { id: existing.agentId, createdByKey: owner?.createdByKey ?? null },
          'delete the services of',
        );
      }
      const removed = name !== undefined && (await services.unexpose(req.workspaceId, undefined, name, true));
      if (!removed) return sendError(reply, ErrorCodes.NOT_FOUND, noService(req.params.name));
      return reply.code(204).send(null);
    },
  );
}
