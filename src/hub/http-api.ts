import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import swagger from '@fastify/swagger';
import type { HubMetrics } from './metrics.js';
import type { Store } from './store/index.js';
import type { ServiceManager } from './services.js';
import type { SessionRegistry } from './registry.js';
import { verifyApiKey } from './api-keys.js';
import { sendError } from './http-errors.js';
import { newId } from '../util/ids.js';
import { VERSION } from '../version.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by the auth hook on every /v1 route: the workspace the presented key belongs to. */
    workspaceId: string;
    apiKeyId: string;
  }
}

const errorSchema = {
  type: 'object',
  properties: { statusCode: { type: 'integer' }, code: { type: 'string' }, message: { type: 'string' } },
} as const;

const serviceSchema = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    name: { type: 'string' },
    targetPort: { type: 'integer' },
    tunnelPort: { type: 'integer' },
    status: { type: 'string', enum: ['online', 'offline'] },
    protocol: { type: 'string', enum: ['tcp', 'http', 'https'] },
    agentId: { type: 'string' },
    agentLabel: { type: 'string' },
    createdAt: { type: 'string' },
  },
} as const;

const agentSchema = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    label: { type: 'string' },
    name: { type: ['string', 'null'] },
    workspace: { type: 'string' },
    online: { type: 'boolean' },
    createdAt: { type: 'string' },
    lastSeenAt: { type: ['string', 'null'] },
  },
} as const;

const authErrors = { 401: errorSchema, 404: errorSchema, 400: errorSchema } as const;
const security = [{ apiKey: [] }];
const labelPattern = '^[\\w.@:-][\\w .@:-]{0,62}$';

export interface ApiDeps {
  store: Store;
  storeKind: 'sqlite' | 'postgres';
  services: ServiceManager;
  registry: SessionRegistry;
  metrics: HubMetrics;
}

/** Registers every HTTP route. /health is public; everything under /v1 (and /metrics) needs `x-api-key`. */
export async function registerApi(app: FastifyInstance, deps: ApiDeps): Promise<void> {
  const { store, services, registry } = deps;

  await app.register(swagger, {
    openapi: {
      info: { title: 'Private Connect hub API', version: VERSION },
      components: { securitySchemes: { apiKey: { type: 'apiKey', in: 'header', name: 'x-api-key' } } },
    },
  });

  app.decorateRequest('workspaceId', '');
  app.decorateRequest('apiKeyId', '');

  const authenticate = async (req: FastifyRequest, reply: FastifyReply): Promise<void> => {
    const header = req.headers['x-api-key'];
    const key = typeof header === 'string' ? await verifyApiKey(store, header) : undefined;
    if (!key) {
      await sendError(
        reply,
        401,
        'UNAUTHORIZED',
        'missing, invalid or revoked API key (send it in x-api-key)',
      );
      return;
    }
    req.workspaceId = key.workspaceId;
    req.apiKeyId = key.id;
  };

  app.get(
    '/health',
    {
      schema: {
        summary: 'Liveness and store reachability (no key needed)',
        response: {
          '2xx': {
            type: 'object',
            properties: {
              status: { type: 'string' },
              version: { type: 'string' },
              store: {
                type: 'object',
                properties: { kind: { type: 'string' }, reachable: { type: 'boolean' } },
              },
            },
          },
        },
      },
    },
    async (_req, reply) => {
      const reachable = await store.ping();
      return reply.code(reachable ? 200 : 503).send({
        status: reachable ? 'ok' : 'degraded',
        version: VERSION,
        store: { kind: deps.storeKind, reachable },
      });
    },
  );

  app.get('/openapi.json', { schema: { hide: true } }, () => app.swagger());

  // fastify treats an async plugin as finished when its promise settles; the routes below are synchronous.
  // eslint-disable-next-line @typescript-eslint/require-await
  await app.register(async (v1) => {
    v1.addHook('onRequest', authenticate);

    v1.get(
      '/v1/whoami',
      {
        schema: {
          summary: 'The workspace of the presented key',
          security,
          response: {
            200: {
              type: 'object',
              properties: {
                workspace: { type: 'string' },
                workspaceId: { type: 'string' },
                keyId: { type: 'string' },
              },
            },
            ...authErrors,
          },
        },
      },
      async (req) => {
        const ws = await store.getWorkspace(req.workspaceId);
        return { workspace: ws?.name ?? '', workspaceId: req.workspaceId, keyId: req.apiKeyId };
      },
    );

    v1.post<{ Body: { label: string; name?: string } }>(
      '/v1/agents',
      {
        schema: {
          summary: 'Register an agent in the key’s workspace',
          security,
          body: {
            type: 'object',
            required: ['label'],
            additionalProperties: false,
            properties: {
              label: { type: 'string', pattern: labelPattern },
              name: { type: 'string', pattern: labelPattern },
            },
          },
          response: { 201: agentSchema, ...authErrors },
        },
      },
      async (req, reply) => {
        const agent = await store.createAgent({
          id: newId('agent'),
          workspaceId: req.workspaceId,
          label: req.body.label,
          name: req.body.name ?? null,
        });
        const ws = await store.getWorkspace(req.workspaceId);
        return reply.code(201).send({ ...agent, workspace: ws?.name ?? '', online: false });
      },
    );

    v1.get(
      '/v1/agents',
      {
        schema: {
          summary: 'Agents of the workspace',
          security,
          response: { 200: { type: 'array', items: agentSchema }, ...authErrors },
        },
      },
      async (req) => {
        const [agents, ws] = await Promise.all([
          store.listAgents(req.workspaceId),
          store.getWorkspace(req.workspaceId),
        ]);
        return agents.map((a) => ({
          ...a,
          workspace: ws?.name ?? '',
          online: registry.isAgentOnline(req.workspaceId, a.id),
        }));
      },
    );

    v1.get<{ Params: { id: string } }>(
      '/v1/agents/:id',
      {
        schema: {
          summary: 'One agent, with whether it has a live session',
          security,
          params: { type: 'object', properties: { id: { type: 'string', maxLength: 64 } } },
          response: { 200: agentSchema, ...authErrors },
        },
      },
      async (req, reply) => {
        const agent = await store.findAgent(req.workspaceId, req.params.id);
        if (!agent)
          return sendError(reply, 404, 'NOT_FOUND', `no agent '${req.params.id}' in this workspace`);
        const ws = await store.getWorkspace(req.workspaceId);
        return {
          ...agent,
          workspace: ws?.name ?? '',
          online: registry.isAgentOnline(req.workspaceId, agent.id),
        };
      },
    );

    v1.patch<{ Params: { id: string }; Body: { label?: string; name?: string } }>(
      '/v1/agents/:id',
      {
        schema: {
          summary: 'Rename an agent',
          security,
          params: { type: 'object', properties: { id: { type: 'string', maxLength: 64 } } },
          body: {
            type: 'object',
            additionalProperties: false,
            properties: {
              label: { type: 'string', pattern: labelPattern },
              name: { type: 'string', pattern: labelPattern },
            },
          },
          response: { 200: agentSchema, ...authErrors },
        },
      },
      async (req, reply) => {
        const agent = await store.findAgent(req.workspaceId, req.params.id);
        if (!agent)
          return sendError(reply, 404, 'NOT_FOUND', `no agent '${req.params.id}' in this workspace`);
        await store.updateAgent(req.workspaceId, agent.id, req.body);
        const updated = await store.findAgent(req.workspaceId, agent.id);
        const ws = await store.getWorkspace(req.workspaceId);
        return {
          ...updated,
          workspace: ws?.name ?? '',
          online: registry.isAgentOnline(req.workspaceId, agent.id),
        };
      },
    );

    v1.get(
      '/v1/services',
      {
        schema: {
          summary: 'Services of the workspace (seed shape)',
          security,
          response: { 200: { type: 'array', items: serviceSchema }, ...authErrors },
        },
      },
      async (req) => services.list(req.workspaceId),
    );

    v1.get<{ Params: { name: string } }>(
      '/v1/services/:name',
      {
        schema: {
          summary: 'One service by name',
          security,
          params: { type: 'object', properties: { name: { type: 'string', maxLength: 63 } } },
          response: { 200: serviceSchema, ...authErrors },
        },
      },
      async (req, reply) => {
        const service = await services.get(req.workspaceId, req.params.name);
        if (!service) return sendError(reply, 404, 'NOT_FOUND', `no service named '${req.params.name}'`);
        return service;
      },
    );

    v1.delete<{ Params: { name: string } }>(
      '/v1/services/:name',
      {
        schema: {
          summary: 'Remove a service and free its tunnel port',
          security,
          params: { type: 'object', properties: { name: { type: 'string', maxLength: 63 } } },
          response: { 204: { type: 'null' }, ...authErrors },
        },
      },
      async (req, reply) => {
        const removed = await services.unexpose(req.workspaceId, undefined, req.params.name, true);
        if (!removed) return sendError(reply, 404, 'NOT_FOUND', `no service named '${req.params.name}'`);
        return reply.code(204).send();
      },
    );

    v1.get(
      '/metrics',
      { schema: { summary: 'Prometheus metrics of this hub', security } },
      async (req, reply) => {
        const { contentType, body } = await deps.metrics.render(req.workspaceId);
        return reply.type(contentType).send(body);
      },
    );
  });
}
