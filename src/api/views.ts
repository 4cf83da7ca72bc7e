import { Type, type Static } from '@sinclair/typebox';
import { SERVICE_PROTOCOLS } from './service-protocol.js';
import { MAX_GRANTS_PER_SERVICE } from './grants.js';

/**
 * What the hub's HTTP API and CONTROL replies return, written once: Fastify validates and serialises with these
 * schemas, @fastify/swagger documents them, and the clients (src/agent/hub-api.ts, the CLI, the proxy) take their
 * types from the same place. A field missing here is dropped from the reply, so these ARE the wire shapes.
 */

/** `tcp | http | https` as a schema (the list lives in service-protocol.ts). */
export const ServiceProtocolSchema = Type.Union(SERVICE_PROTOCOLS.map((p) => Type.Literal(p)));

/** A service as seed 000 shows it for GET /v1/services (and the CONTROL `expose` result). */
export const ServiceViewSchema = Type.Object({
  id: Type.String(),
  name: Type.String(),
  targetPort: Type.Integer(),
  tunnelPort: Type.Integer(),
  status: Type.Union([Type.Literal('online'), Type.Literal('offline')]),
  protocol: ServiceProtocolSchema,
  agentId: Type.String(),
  agentLabel: Type.String(),
  createdAt: Type.String(),
  /** Who may reach it (agent labels, API key ids; src/api/grants.ts); absent or empty: every key of the workspace. */
  grants: Type.Optional(Type.Array(Type.String())),
});
export type ServiceView = Static<typeof ServiceViewSchema>;

/** POST /v1/services/:name/grants and …/grants/revoke: the service's grants after the change. */
export const GrantsViewSchema = Type.Object({ name: Type.String(), grants: Type.Array(Type.String()) });
export type GrantsView = Static<typeof GrantsViewSchema>;

/** POST /v1/services/:name/grants (parsed by src/api/grants.ts `parseGrantees`). */
export const GrantBodySchema = Type.Object(
  { grantees: Type.Array(Type.String({ maxLength: 63 }), { minItems: 1, maxItems: MAX_GRANTS_PER_SERVICE }) },
  { additionalProperties: false },
);
export type GrantBody = Static<typeof GrantBodySchema>;

/** POST /v1/services/:name/grants/revoke: these grantees, or `all`. */
export const RevokeBodySchema = Type.Object(
  {
    grantees: Type.Optional(Type.Array(Type.String({ maxLength: 63 }), { maxItems: MAX_GRANTS_PER_SERVICE })),
    all: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);
export type RevokeBody = Static<typeof RevokeBodySchema>;

/** An agent of the workspace, with whether it has a live session right now. */
export const AgentViewSchema = Type.Object({
  id: Type.String(),
  label: Type.String(),
  name: Type.Union([Type.String(), Type.Null()]),
  workspace: Type.String(),
  online: Type.Boolean(),
  createdAt: Type.String(),
  lastSeenAt: Type.Union([Type.String(), Type.Null()]),
});
export type AgentView = Static<typeof AgentViewSchema>;

/** POST /v1/agents: the new agent and its secret, which the hub shows this once (it keeps only a hash). */
export const RegisteredAgentViewSchema = Type.Intersect([
  AgentViewSchema,
  Type.Object({ secret: Type.String() }),
]);
export type RegisteredAgentView = Static<typeof RegisteredAgentViewSchema>;

/** GET /v1/whoami: the workspace of the presented key. */
export const WhoamiViewSchema = Type.Object({
  workspace: Type.String(),
  workspaceId: Type.String(),
  keyId: Type.String(),
  /** admin | agent | reach (src/api/key-role.ts). */
  role: Type.Optional(Type.String()),
  /** The only services the key may reach; null: every one of the workspace. */
  services: Type.Optional(Type.Union([Type.Array(Type.String()), Type.Null()])),
  expiresAt: Type.Optional(Type.Union([Type.String(), Type.Null()])),
});
export type WhoamiView = Static<typeof WhoamiViewSchema>;

/** GET /health (no key needed): 200 when the store answers, 503 `degraded` when it does not. */
export const HealthViewSchema = Type.Object({
  status: Type.String(),
  version: Type.String(),
  store: Type.Object({ kind: Type.String(), reachable: Type.Boolean() }),
});
export type HealthView = Static<typeof HealthViewSchema>;

/** GET /v1/audit: one reach of a service (newest first), written by the hub when its stream ended. */
export const AuditViewSchema = Type.Object({
  id: Type.String(),
  service: Type.String(),
  /** reach: an agent's OPEN; proxy: the local proxy's; tunnel-port: a connection to the service's tunnel port. */
  source: Type.Union([Type.Literal('reach'), Type.Literal('tunnel-port'), Type.Literal('proxy')]),
  agentId: Type.Union([Type.String(), Type.Null()]),
  agentLabel: Type.Union([Type.String(), Type.Null()]),
  keyId: Type.Union([Type.String(), Type.Null()]),
  /** The peer address of a tunnel-port connection. */
  remote: Type.Union([Type.String(), Type.Null()]),
  startedAt: Type.String(),
  endedAt: Type.String(),
  durationMs: Type.Integer(),
  bytesToService: Type.Integer(),
  bytesFromService: Type.Integer(),
  /** fin: both sides finished; reset: one side (or the hub) reset it, see code; refused: it never opened. */
  end: Type.Union([Type.Literal('fin'), Type.Literal('reset'), Type.Literal('refused')]),
  code: Type.Union([Type.String(), Type.Null()]),
  reason: Type.Union([Type.String(), Type.Null()]),
});
export type AuditView = Static<typeof AuditViewSchema>;
