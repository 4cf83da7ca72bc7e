import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { ConnectError, describeNetworkError, ErrorCodes, type ErrorCode } from '../api/errors.js';
import type { ServiceView } from '../hub/services.js';

export type { ServiceView } from '../hub/services.js';

export interface AgentView {
  id: string;
  label: string;
  name: string | null;
  workspace: string;
  online: boolean;
  createdAt: string;
  lastSeenAt: string | null;
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
      const err = json as { code?: string; message?: string } | undefined;
      const code: ErrorCode =
        res.status === 401
          ? ErrorCodes.UNAUTHORIZED
          : res.status === 404
            ? ErrorCodes.NOT_FOUND
            : ErrorCodes.HUB_ERROR;
      const message = err?.message ?? `${res.status} ${res.statusText}`;
      throw new ConnectError(
        code,
        res.status === 401 ? `the hub refused the API key: ${message}` : `hub error: ${message}`,
        res.status === 401
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

  health(): Promise<{ status: string; version: string }> {
    return this.call('GET', '/health');
  }

  whoami(): Promise<{ workspace: string; workspaceId: string; keyId: string }> {
    return this.call('GET', '/v1/whoami');
  }

  registerAgent(label: string, name?: string): Promise<AgentView> {
    return this.call('POST', '/v1/agents', { label, ...(name && { name }) });
  }

  updateAgent(id: string, change: { label?: string; name?: string }): Promise<AgentView> {
    return this.call('PATCH', `/v1/agents/${encodeURIComponent(id)}`, change);
  }

  agent(id: string): Promise<AgentView> {
    return this.call('GET', `/v1/agents/${encodeURIComponent(id)}`);
  }

  services(): Promise<ServiceView[]> {
    return this.call('GET', '/v1/services');
  }

  /** The service of that name, or undefined when the workspace has none. */
  async service(name: string): Promise<ServiceView | undefined> {
    try {
      return await this.call<ServiceView>('GET', `/v1/services/${encodeURIComponent(name.toLowerCase())}`);
    } catch (err) {
      if (err instanceof ConnectError && err.code === ErrorCodes.NOT_FOUND) return undefined;
      throw err;
    }
  }

  async deleteService(name: string): Promise<boolean> {
    try {
      await this.call('DELETE', `/v1/services/${encodeURIComponent(name.toLowerCase())}`);
      return true;
    } catch (err) {
      if (err instanceof ConnectError && err.code === ErrorCodes.NOT_FOUND) return false;
      throw err;
    }
  }
}
