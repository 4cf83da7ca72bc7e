/** `connect hub audit` below the CLI: the audit rows of the workspace, read through the hub's HTTP API. */
import { loadCredentials, normalizeHubUrl, resolveHubUrl } from '../config/credentials.js';
import { HubApi } from '../agent/hub-api.js';
import type { AuditView } from '../api/views.js';
import { ConnectError, ErrorCodes } from '../api/errors.js';
import { parseServiceName } from '../api/service-name.js';

export interface AuditRequest {
  hub?: string | undefined;
  apiKey?: string | undefined;
  service?: string | undefined;
  limit?: number | undefined;
}

/**
 * The hub is `--hub`, else the one this machine signed in to; the key is `--api-key`, else PRIVATECONNECT_TOKEN,
 * else the saved one, which is only ever sent to the hub it was saved for.
 */
export async function readAudit(req: AuditRequest): Promise<{ hubUrl: string; rows: AuditView[] }> {
  const saved = loadCredentials();
  const hubUrl = resolveHubUrl(req.hub, saved);
  const savedForHub = saved && normalizeHubUrl(saved.hubUrl) === hubUrl ? saved.apiKey : undefined;
  const apiKey = req.apiKey ?? process.env.PRIVATECONNECT_TOKEN ?? savedForHub;
  if (!apiKey) {
    throw new ConnectError(
      ErrorCodes.NOT_SIGNED_IN,
      `no API key for ${hubUrl}`,
      'Give one with --api-key (or PRIVATECONNECT_TOKEN), or sign in with `connect up`.',
    );
  }
  const service = req.service === undefined ? undefined : parseServiceName(req.service);
  const rows = await new HubApi(hubUrl, apiKey).audit({
    ...(service && { service }),
    ...(req.limit !== undefined && { limit: req.limit }),
  });
  return { hubUrl, rows };
}
