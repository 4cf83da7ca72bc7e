import { Type, type Static } from '@sinclair/typebox';

/** Request bodies, route parameters and the error body of the hub's HTTP API (the replies are in views.ts). */

/** An agent's label or name: a word character first, then up to 62 of words, spaces, `.@:-`. */
const Label = Type.String({ pattern: '^[\\w.@:-][\\w .@:-]{0,62}$' });

/** POST /v1/agents */
export const RegisterAgentBodySchema = Type.Object(
  { label: Label, name: Type.Optional(Label) },
  { additionalProperties: false },
);
export type RegisterAgentBody = Static<typeof RegisterAgentBodySchema>;

/** PATCH /v1/agents/:id */
export const UpdateAgentBodySchema = Type.Object(
  { label: Type.Optional(Label), name: Type.Optional(Label) },
  { additionalProperties: false },
);
export type UpdateAgentBody = Static<typeof UpdateAgentBodySchema>;

export const AgentParamsSchema = Type.Object({ id: Type.String({ maxLength: 64 }) });

/** The raw name in the path: the route parses it (parseServiceName), so a bad one is a plain 404. */
export const ServiceParamsSchema = Type.Object({ name: Type.String({ maxLength: 63 }) });

/** Rows one GET /v1/audit returns at most, and when `limit` is not given. */
export const AUDIT_PAGE_MAX = 1000;
export const AUDIT_PAGE_DEFAULT = 100;

/** GET /v1/audit?service=&limit= (query values are strings: the route parses them). */
export const AuditQuerySchema = Type.Object(
  {
    service: Type.Optional(Type.String({ maxLength: 63 })),
    limit: Type.Optional(Type.String({ pattern: '^[0-9]{1,4}$' })),
  },
  { additionalProperties: false },
);
export type AuditQuery = Static<typeof AuditQuerySchema>;

/** Every API failure: the HTTP status again, a stable code (src/api/errors.ts) and a one-line message. */
export const ApiErrorBodySchema = Type.Object({
  statusCode: Type.Integer(),
  code: Type.String(),
  message: Type.String(),
});
export type ApiErrorBody = Static<typeof ApiErrorBodySchema>;
