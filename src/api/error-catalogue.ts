import { ResetCode } from '../protocol/frames.js';
import { WsCloseCode } from '../protocol/ws-codec.js';
import type { ErrorCode } from './errors.js';

/**
 * One failure, three wires: the HTTP status an API reply gets, the RST/GOAWAY code a stream or session refused for
 * that reason gets, and the WebSocket close code a link closed for it gets. Kept apart from errors.ts because
 * src/protocol imports errors.ts, and this table needs the protocol's codes (one module each way, no cycle).
 */
export interface ErrorWires {
  readonly status: number;
  readonly reset: ResetCode;
  readonly close: (typeof WsCloseCode)[keyof typeof WsCloseCode];
}

const { POLICY, INTERNAL, GOING_AWAY, PROTOCOL_ERROR, TOO_BIG, UNSUPPORTED_DATA } = WsCloseCode;

/** Every ErrorCode (the compiler refuses a missing one): a new code must say how each wire carries it. */
export const ERROR_CATALOGUE: Readonly<Record<ErrorCode, ErrorWires>> = {
  BAD_INPUT: { status: 400, reset: ResetCode.PROTOCOL, close: POLICY },
  BAD_CONFIG: { status: 400, reset: ResetCode.INTERNAL, close: INTERNAL },
  NOT_SIGNED_IN: { status: 401, reset: ResetCode.REFUSED, close: POLICY },
  CREDENTIALS_CORRUPT: { status: 401, reset: ResetCode.REFUSED, close: POLICY },
  HUB_UNREACHABLE: { status: 502, reset: ResetCode.SESSION_CLOSED, close: GOING_AWAY },
  HUB_ERROR: { status: 502, reset: ResetCode.INTERNAL, close: INTERNAL },
  UNAUTHORIZED: { status: 401, reset: ResetCode.REFUSED, close: POLICY },
  FORBIDDEN: { status: 403, reset: ResetCode.REFUSED, close: POLICY },
  NOT_FOUND: { status: 404, reset: ResetCode.NO_SERVICE, close: POLICY },
  CONFLICT: { status: 409, reset: ResetCode.REFUSED, close: POLICY },
  SERVICE_OFFLINE: { status: 503, reset: ResetCode.OFFLINE, close: GOING_AWAY },
  PORT_UNAVAILABLE: { status: 409, reset: ResetCode.REFUSED, close: INTERNAL },
  NO_TUNNEL_PORT: { status: 503, reset: ResetCode.LIMIT, close: INTERNAL },
  LIMIT_REACHED: { status: 429, reset: ResetCode.LIMIT, close: POLICY },
  PROTOCOL_ERROR: { status: 400, reset: ResetCode.PROTOCOL, close: PROTOCOL_ERROR },
  TARGET_UNREACHABLE: { status: 502, reset: ResetCode.REFUSED, close: INTERNAL },
  // 408: what times out at the hub is a client's upgrade that did not finish its authentication in time.
  TIMEOUT: { status: 408, reset: ResetCode.TIMEOUT, close: GOING_AWAY },
  UNSUPPORTED: { status: 501, reset: ResetCode.REFUSED, close: POLICY },
  STORE_ERROR: { status: 503, reset: ResetCode.INTERNAL, close: INTERNAL },
  INTERNAL: { status: 500, reset: ResetCode.INTERNAL, close: INTERNAL },
  BODY_TOO_LARGE: { status: 413, reset: ResetCode.LIMIT, close: TOO_BIG },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, reset: ResetCode.PROTOCOL, close: UNSUPPORTED_DATA },
  PROTOCOL_VERSION: { status: 426, reset: ResetCode.PROTOCOL, close: PROTOCOL_ERROR },
};

export const httpStatusOf = (code: ErrorCode): number => ERROR_CATALOGUE[code].status;
export const resetCodeOf = (code: ErrorCode): ResetCode => ERROR_CATALOGUE[code].reset;
export const closeCodeOf = (code: ErrorCode): ErrorWires['close'] => ERROR_CATALOGUE[code].close;
