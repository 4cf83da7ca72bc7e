import { Type, type Static } from '@sinclair/typebox';
import { ServiceProtocolSchema, ServiceViewSchema } from './views.js';
import { MAX_GRANTS_PER_SERVICE } from './grants.js';

/**
 * CONTROL messages: the JSON objects an agent and the hub exchange on stream 0 of their session (FrameType.CONTROL
 * in src/protocol/frames.ts), never on the data path. Each is told apart by `op`. A request may carry a `rid`, which
 * its `result` echoes; a request without one gets no reply when it fails for being unknown.
 * The hub checks what it receives against these schemas (src/api/control-check.ts) before it acts on any field.
 */

/** Request ids are small integers: a reply echoes the id, so an id is never a string or object of any size. */
export const MAX_RID = 2 ** 31 - 1;

const Rid = Type.Integer({ minimum: 0, maximum: MAX_RID });

/** agent → hub: serve this service from this session (registers it, with a tunnel port, on first use). */
export const ExposeRequestSchema = Type.Object({
  op: Type.Literal('expose'),
  rid: Type.Optional(Rid),
  /** Parsed by parseServiceName at the hub (its one message for a bad name); only a string here. */
  name: Type.String(),
  targetHost: Type.String({ minLength: 1, maxLength: 255 }),
  targetPort: Type.Integer({ minimum: 1, maximum: 65535 }),
  /** `tcp` when absent. */
  protocol: Type.Optional(ServiceProtocolSchema),
  /**
   * Grantees (agent labels or API key ids, src/api/grants.ts) added to the service's grants before it goes online:
   * with any, only they (and this agent) may reach it. Absent or empty: the grants stay as they are.
   */
  allow: Type.Optional(Type.Array(Type.String({ maxLength: 63 }), { maxItems: MAX_GRANTS_PER_SERVICE })),
});
export type ExposeRequest = Static<typeof ExposeRequestSchema>;

/** agent → hub: stop serving a service from this session; `remove` also deletes it (frees its tunnel port). */
export const UnexposeRequestSchema = Type.Object({
  op: Type.Literal('unexpose'),
  rid: Type.Optional(Rid),
  name: Type.String(),
  remove: Type.Optional(Type.Boolean()),
});
export type UnexposeRequest = Static<typeof UnexposeRequestSchema>;

/** Every request an agent may send, discriminated on `op`. */
export const ControlRequestSchema = Type.Union([ExposeRequestSchema, UnexposeRequestSchema]);
export type ControlRequest = Static<typeof ControlRequestSchema>;
export type ControlOp = ControlRequest['op'];
/** A request as a client writes it: the connection numbers it (`rid`). */
export type ControlRequestBody = ControlRequest extends infer R
  ? R extends unknown
    ? Omit<R, 'rid'>
    : never
  : never;

/** hub → agent, first on every session: who the hub took this session for. */
export const WelcomeSchema = Type.Object({
  op: Type.Literal('welcome'),
  sessionId: Type.String(),
  agentId: Type.String(),
  protocol: Type.Integer(),
});
export type Welcome = Static<typeof WelcomeSchema>;

/** hub → agent: a request done. `service` answers an expose. */
export const ResultOkSchema = Type.Object({
  op: Type.Literal('result'),
  rid: Type.Optional(Rid),
  ok: Type.Literal(true),
  service: Type.Optional(ServiceViewSchema),
});
export type ResultOk = Static<typeof ResultOkSchema>;

/**
 * hub → agent: a request refused, with a stable code (src/api/errors.ts) and a one-line message. `rid` is left out
 * when the request's own rid was not a valid one (the sender cannot match the reply, and nothing it chose is echoed).
 * `code` is any string here: a newer hub may send a code this agent does not know.
 */
export const ResultFailSchema = Type.Object({
  op: Type.Literal('result'),
  rid: Type.Optional(Rid),
  ok: Type.Literal(false),
  code: Type.String(),
  message: Type.String(),
});
export type ResultFail = Static<typeof ResultFailSchema>;

export type ControlResult = ResultOk | ResultFail;

/** Every message the hub may send, discriminated on `op` (and a result on `ok`). */
export const ControlReplySchema = Type.Union([WelcomeSchema, ResultOkSchema, ResultFailSchema]);
export type ControlReply = Static<typeof ControlReplySchema>;
