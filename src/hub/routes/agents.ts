import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { AgentRecord, Store } from '../store/index.js';
import type { SessionRegistry } from '../registry.js';
import { sendError } from '../http-errors.js';
import { ErrorCodes } from '../../api/errors.js';
import { AgentViewSchema, RegisteredAgentViewSchema, type AgentView } from '../../api/views.js';
import { AgentParamsSchema, RegisterAgentBodySchema, UpdateAgentBodySchema } from '../../api/http-bodies.js';
import { newId } from '../../util/ids.js';
import { authErrors, security } from './auth.js';
import { generateAgentSecret } from '../api-keys.js';
import { maySee, requireActFor, roleKey } from '../access.js';

/** /v1/agents (keyed): register, list, read and rename the agents of the key's workspace. */
export function registerAgentRoutes(v1: FastifyInstance, store: Store, registry: SessionRegistry): void {
  const app = v1.withTypeProvider<TypeBoxTypeProvider>();

  // Field by field: the record also holds the secret's hash and the registering key, which no view shows.
  const view = (agent: AgentRecord, workspace: string): AgentView => ({
    id: agent.id,
    label: agent.label,
    name: agent.name,
    workspace,
    online: registry.isAgentOnline(agent.workspaceId, agent.id),
    createdAt: agent.createdAt,
    lastSeenAt: agent.lastSeenAt,
  });
  const workspaceName = async (id: string): Promise<string> => (await store.getWorkspace(id))?.name ?? '';
  const noAgent = (id: string): string => `no agent '${id}' in this workspace`;

  app.post(
    '/v1/agents',
    {
      schema: {
        summary: 'Register an agent in the key’s workspace (its secret is in this reply only)',
        security,
        body: RegisterAgentBodySchema,
        response: { 201: RegisteredAgentViewSchema, ...authErrors },
      },
    },
    async (req, reply) => {
      const { secret, hash } = generateAgentSecret();
      const agent = await store.createAgent({
        id: newId('agent'),
        workspaceId: req.workspaceId,
        label: req.body.label,
        name: req.body.name ?? null,
        secretHash: hash,
        createdByKey: req.apiKeyId,
      });
      // A new agent has no session yet.
      return reply.code(201).send({ ...view(agent, await workspaceName(req.workspaceId)), secret });
    },
  );

  app.get(
    '/v1/agents',
    {
      schema: {
        summary: 'Agents of the workspace',
        security,
        response: { 200: Type.Array(AgentViewSchema), ...authErrors },
      },
    },
    async (req) => {
      const [agents, workspace] = await Promise.all([
        store.listAgents(req.workspaceId),
        workspaceName(req.workspaceId),
      ]);
      return agents.filter((a) => maySee(req.apiKey, a)).map((a) => view(a, workspace));
    },
  );

  app.get(
    '/v1/agents/:id',
    {
      schema: {
        summary: 'One agent, with whether it has a live session',
        security,
        params: AgentParamsSchema,
        response: { 200: AgentViewSchema, ...authErrors },
      },
    },
    async (req, reply) => {
      const agent = await store.findAgent(req.workspaceId, req.params.id);
      if (!agent) return sendError(reply, ErrorCodes.NOT_FOUND, noAgent(req.params.id));
      if (!maySee(req.apiKey, agent)) {
        return sendError(
          reply,
          ErrorCodes.FORBIDDEN,
          `${roleKey(req.apiKey.role)} may see only the agents it registered`,
        );
      }
      return view(agent, await workspaceName(req.workspaceId));
    },
  );

  app.patch(
    '/v1/agents/:id',
    {
      schema: {
        summary: 'Rename an agent',
        security,
        params: AgentParamsSchema,
        body: UpdateAgentBodySchema,
        response: { 200: AgentViewSchema, ...authErrors },
      },
    },
    async (req, reply) => {
      const agent = await store.findAgent(req.workspaceId, req.params.id);
      if (!agent) return sendError(reply, ErrorCodes.NOT_FOUND, noAgent(req.params.id));
      requireActFor(req.apiKey, agent, 'rename');
      await store.updateAgent(req.workspaceId, agent.id, req.body);
      const updated = await store.findAgent(req.workspaceId, agent.id);
      // Deleted between the two reads: as gone as if it had never been there.
      if (!updated) return sendError(reply, ErrorCodes.NOT_FOUND, noAgent(req.params.id));
      return view(updated, await workspaceName(req.workspaceId));
    },
  );
}
