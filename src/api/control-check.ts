import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import {
  ControlReplySchema,
  ControlRequestSchema,
  type ControlOp,
  type ControlReply,
  type ControlRequest,
} from './control.js';

/**
 * The CONTROL schemas of control.ts compiled once with ajv: one validator per request `op` (so a refusal names the
 * field of THAT operation, not every branch of the union), and one for what the hub sends back.
 */
const ajv = new Ajv({ strict: true, allErrors: false });

const requestChecks = new Map<string, ValidateFunction>(
  ControlRequestSchema.anyOf.map((schema) => [schema.properties.op.const, ajv.compile(schema)]),
);

let replyCheck: ValidateFunction | undefined;

export type RequestCheck =
  | { ok: true; request: ControlRequest }
  /** `unknown-op`: not an operation of this protocol; `invalid`: a known one with a bad field (the first). */
  | { ok: false; reason: 'unknown-op' }
  | { ok: false; reason: 'invalid'; op: ControlOp; field: string; error: ErrorObject };

/** Checks a CONTROL message an agent sent against the request schemas. */
export function checkControlRequest(msg: Record<string, unknown>): RequestCheck {
  const op = msg.op;
  const check = typeof op === 'string' ? requestChecks.get(op) : undefined;
  if (!check) return { ok: false, reason: 'unknown-op' };
  if (check(msg)) return { ok: true, request: msg as ControlRequest };
  const error = check.errors?.[0] as ErrorObject;
  const field =
    error.keyword === 'required'
      ? String((error.params as { missingProperty: string }).missingProperty)
      : (error.instancePath.split('/')[1] ?? '');
  return { ok: false, reason: 'invalid', op: op as ControlOp, field, error };
}

/** True when a CONTROL message from the hub is one of the replies of control.ts (compiled on first use). */
export function isControlReply(msg: Record<string, unknown>): msg is ControlReply {
  replyCheck ??= ajv.compile(ControlReplySchema);
  return replyCheck(msg);
}
