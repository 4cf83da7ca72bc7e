import type { CreateShareBody, CreatedShareView, ShareView } from '../api/share.js';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import {
  ConnectError,
  describeNetworkError,
  ErrorCodes,
  isErrorCode,
  type ErrorCode,
} from '../api/errors.js';
import { parseServiceName, type ServiceName } from '../api/service-name.js';
import type {
  AgentView,
  AuditView,
  GrantBody,
  GrantsView,
  HealthView,
  RegisteredAgentView,
  RevokeBody,
  ServiceView,
  WhoamiView,
} from '../api/views.js';
import type { ApiErrorBody, RegisterAgentBody, UpdateAgentBody } from '../api/http-bodies.js';

/**
 * The code of a failed reply: the hub's own `code` when the body carries one of ours, else a guess from the status
 * (a proxy in front of the hub, or a server that is no hub at all, answers without our body).
 */
function failureCode(status: number, body: Partial<ApiErrorBody> | undefined): ErrorCode {
  if (isErrorCode(body?.code)) return body.code;
  if (status === 401) return ErrorCodes.UNAUTHORIZED;
  if (status === 404) return ErrorCodes.NOT_FOUND;
  return ErrorCodes.HUB_ERROR;
}

interface RawResponse {
  status: number;
  statusText: string;
  text: string;
}

/**
 * One request with node:http(s). Not fetch(): fetch refuses the ports of the WHATWG "bad ports" list (6000, 6665,
 * 10080, ...) with a bare "bad port", while a hub may listen on any port.
 */
function send(
  url: URL,
  method: string,
  headers: Record<string, string>,
  body: string | undefined,
  timeoutMs: number,
): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = (url.protocol === 'https:' ? httpsRequest : httpRequest)(url, { method, headers }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, statusText: res.statusMessage ?? '', text }),
      );
      res.on('error', reject);
    });
    req.setTimeout(timeoutMs, () => {
      const err = new Error(`no answer within ${timeoutMs} ms`);
      err.name = 'TimeoutError';
      req.destroy(err);
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** The path of a service by name; undefined for a name no service can have (the hub would answer 404). */
function servicePath(name: string): string | undefined {
  let parsed: ServiceName;
  try {
    parsed = parseServiceName(name);
  } catch {
    return undefined;
  }
  return `/v1/services/${encodeURIComponent(parsed)}`;
}

/** A small client of the hub's HTTP API; every failure is a ConnectError with a one-line message. */
export class HubApi {
  constructor(
    readonly hubUrl: string,
    private readonly apiKey: string,
    private readonly timeoutMs = 10_000,
  ) {}

  private async call<T>(method: string, path: string, body?: unknown): Promise<T> {
    let res: RawResponse;
    try {
      res = await send(
        new URL(this.hubUrl + path),
        method,
        {
          'x-api-key': this.apiKey,
          ...(body !== undefined && { 'content-type': 'application/json' }),
        },
        body === undefined ? undefined : JSON.stringify(body),
        this.timeoutMs,
      );
    } catch (err) {
      throw new ConnectError(
        ErrorCodes.HUB_UNREACHABLE,
        `cannot reach the hub at ${this.hubUrl}: ${describeNetworkError(err)}`,
        'Check the URL (--hub or CONNECT_HUB_URL) and that the hub is running.',
      );
    }
    const text = res.text;
    let json: unknown = undefined;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {
      // not JSON: handled below by status
    }
    if (res.status < 200 || res.status > 299) {
      const body = typeof json === 'object' && json !== null ? (json as Partial<ApiErrorBody>) : undefined;
      const code = failureCode(res.status, body);
      const message = typeof body?.message === 'string' ? body.message : `${res.status} ${res.statusText}`;
      const refusedKey = code === ErrorCodes.UNAUTHORIZED;
      throw new ConnectError(
        code,
        refusedKey ? `the hub refused the API key: ${message}` : `hub error: ${message}`,
        refusedKey
          ? 'Create a key with `connect hub keys create` and sign in with `connect up --api-key <key>`.'
          : undefined,
      );
    }
    if (json === undefined && text !== '') {
      throw new ConnectError(
        ErrorCodes.HUB_ERROR,
        `the server at ${this.hubUrl} did not answer like a Private Connect hub`,
      );
    }
    return json as T;
  }

  health(): Promise<HealthView> {
    return this.call('GET', '/health');
  }

  whoami(): Promise<WhoamiView> {
    return this.call('GET', '/v1/whoami');
  }

  /** The new agent and its secret (shown by the hub this once). */
  registerAgent(label: string, name?: string): Promise<RegisteredAgentView> {
    const body: RegisterAgentBody = { label, ...(name && { name }) };
    return this.call('POST', '/v1/agents', body);
  }

  updateAgent(id: string, change: UpdateAgentBody): Promise<AgentView> {
    return this.call('PATCH', `/v1/agents/${encodeURIComponent(id)}`, change);
  }

  agent(id: string): Promise<AgentView> {
    return this.call('GET', `/v1/agents/${encodeURIComponent(id)}`);
  }

  services(): Promise<ServiceView[]> {
    return this.call('GET', '/v1/services');
  }

  /** The service of that name, or undefined when the workspace has none (or no service can have that name). */
  async service(name: string): Promise<ServiceView | undefined> {
    const path = servicePath(name);
    if (path === undefined) return undefined;
    try {
      return await this.call<ServiceView>('GET', path);
    } catch (err) {
      if (err instanceof ConnectError && err.code === ErrorCodes.NOT_FOUND) return undefined;
      throw err;
    }
  }

  /** The workspace's audit rows, newest first (of one service when given). */
  audit(query: { service?: string; limit?: number } = {}): Promise<AuditView[]> {
    const params = new URLSearchParams();
    if (query.service !== undefined) params.set('service', query.service);
    if (query.limit !== undefined) params.set('limit', String(query.limit));
    const search = params.size > 0 ? `?${params.toString()}` : '';
    return this.call('GET', `/v1/audit${search}`);
  }

  /** Grants `grantees` (agent labels, key ids) access to the service; its grants after the change. */
  grant(name: string, grantees: string[]): Promise<GrantsView> {
    const path = servicePath(name);
    if (path === undefined) throw new ConnectError(ErrorCodes.NOT_FOUND, `no service named '${name}'`);
    const body: GrantBody = { grantees };
    return this.call('POST', `${path}/grants`, body);
  }

  /** Revokes these grantees, or every grant (`'all'`); the service's grants after the change. */
  revoke(name: string, grantees: string[] | 'all'): Promise<GrantsView> {
    const path = servicePath(name);
    if (path === undefined) throw new ConnectError(ErrorCodes.NOT_FOUND, `no service named '${name}'`);
    const body: RevokeBody = grantees === 'all' ? { all: true } : { grantees };
    return this.call('POST', `${path}/grants/revoke`, body);
  }

  async deleteService(name: string): Promise<boolean> {
    const path = servicePath(name);
    if (path === undefined) return false;
    try {
      await this.call('DELETE', path);
      return true;
    } catch (err) {
      if (err instanceof ConnectError && err.code === ErrorCodes.NOT_FOUND) return false;
      throw err;
    }
  }

  /** A new share of one service; its secret is in this reply only (see src/api/share.ts). */
  createShare(body: CreateShareBody): Promise<CreatedShareView> {
    return this.call('POST', '/v1/shares', body);
  }

  shares(): Promise<ShareView[]> {
    return this.call('GET', '/v1/shares');
  }

  async revokeShare(id: string): Promise<void> {
    await this.call('DELETE', `/v1/shares/${encodeURIComponent(id)}`);
  }
}
