/**
 * Every error the product reports to a user or an API client carries one of these stable codes.
 * Codes never change meaning once published; messages may be reworded.
 */
export const ErrorCodes = {
  BAD_INPUT: 'BAD_INPUT',
  BAD_CONFIG: 'BAD_CONFIG',
  NOT_SIGNED_IN: 'NOT_SIGNED_IN',
  CREDENTIALS_CORRUPT: 'CREDENTIALS_CORRUPT',
  HUB_UNREACHABLE: 'HUB_UNREACHABLE',
  HUB_ERROR: 'HUB_ERROR',
  UNAUTHORIZED: 'UNAUTHORIZED',
  /** A live key whose role (or service list, or agent ownership) does not allow the request. */
  FORBIDDEN: 'FORBIDDEN',
  NOT_FOUND: 'NOT_FOUND',
  CONFLICT: 'CONFLICT',
  SERVICE_OFFLINE: 'SERVICE_OFFLINE',
  PORT_UNAVAILABLE: 'PORT_UNAVAILABLE',
  NO_TUNNEL_PORT: 'NO_TUNNEL_PORT',
  /** A hub limit (src/hub/limits.ts) would be crossed: the message names it and its value. */
  LIMIT_REACHED: 'LIMIT_REACHED',
  PROTOCOL_ERROR: 'PROTOCOL_ERROR',
  TARGET_UNREACHABLE: 'TARGET_UNREACHABLE',
  TIMEOUT: 'TIMEOUT',
  UNSUPPORTED: 'UNSUPPORTED',
  STORE_ERROR: 'STORE_ERROR',
  INTERNAL: 'INTERNAL',
  /** An HTTP request body over the hub's body limit. */
  BODY_TOO_LARGE: 'BODY_TOO_LARGE',
  /** An HTTP request body that is not JSON. */
  UNSUPPORTED_MEDIA_TYPE: 'UNSUPPORTED_MEDIA_TYPE',
  /** The agent and the hub speak different protocol versions (src/protocol/frames.ts PROTOCOL_VERSION). */
  PROTOCOL_VERSION: 'PROTOCOL_VERSION',
} as const;

export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes];

/** True for a code of this catalogue (a peer's or a hub's `code` field is checked before it is believed). */
export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && Object.hasOwn(ErrorCodes, value);
}

/** An expected failure: the CLI prints its message on one line and exits 1; the API maps it to a 4xx. */
export class ConnectError extends Error {
  override readonly name = 'ConnectError';
  constructor(
    readonly code: ErrorCode,
    message: string,
    /** A second line telling the user what to do next, when there is something to do. */
    readonly hint?: string,
  ) {
    super(message);
  }
}

export function isConnectError(err: unknown): err is ConnectError {
  return err instanceof ConnectError;
}

/** Why a connection failed, in words a user can act on (not a bare errno). */
export function describeNetworkError(err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ECONNREFUSED') return 'connection refused';
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return 'host not found';
  if (code === 'ETIMEDOUT' || (err as Error).name === 'TimeoutError') return 'timed out';
  return messageOf(err);
}

/** The message of any thrown value, for logs and one-line reports. */
export function messageOf(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
