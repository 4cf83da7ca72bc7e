import { loadCredentials } from '../config/credentials.js';
import { paths } from '../config/paths.js';
import { readPidFile, removePidFile } from './pid-file.js';
import type { ServiceManager } from './service.js';

export interface DaemonStatus {
  status: 'running' | 'stopped';
  pid: number | null;
  /** How the running daemon was started: the installed service, or `connect daemon start` in the background. */
  mode: 'service' | 'background' | null;
  serviceInstalled: boolean;
  /** The service file, when the platform has one. */
  serviceFile: string | null;
  platform: NodeJS.Platform;
  agentId: string | null;
  label: string | null;
  hub: string | null;
  /** True when a pid file naming no live daemon of ours was found and removed. */
  staleCleaned: boolean;
  logFile: string;
  pidFile: string;
}

/** Reads the daemon's state; removes a stale pid file as a side effect (and says so). */
export function daemonStatus(
  service: ServiceManager | undefined,
  platform: NodeJS.Platform = process.platform,
): DaemonStatus {
  const pf = readPidFile();
  let staleCleaned = false;
  if (pf.state === 'stale') {
    removePidFile();
    staleCleaned = true;
  }
  const installed = service?.isInstalled() ?? false;
  let pid: number | null = null;
  let mode: DaemonStatus['mode'] = null;
  let hub: string | null = null;
  if (pf.state === 'running') {
    pid = pf.record.pid;
    mode = 'background';
    hub = pf.record.hubUrl ?? null;
  } else if (installed && service && service.unavailableReason() === undefined) {
    const servicePid = service.pid();
    if (servicePid !== undefined) {
      pid = servicePid;
      mode = 'service';
    }
  }
  let credentials;
  try {
    credentials = loadCredentials();
  } catch {
    credentials = undefined;
  }
  return {
    status: pid !== null ? 'running' : 'stopped',
    pid,
    mode,
    serviceInstalled: installed,
    serviceFile: service?.unitPath ?? null,
    platform,
    agentId: credentials?.agentId ?? null,
    label: credentials?.label ?? null,
    hub: hub ?? credentials?.hubUrl ?? null,
    staleCleaned,
    logFile: paths.daemonLog(),
    pidFile: paths.daemonPid(),
  };
}

/** The seed's status block, without colour. */
export function renderStatus(s: DaemonStatus): string[] {
  const lines = ['📊 Private Connect Daemon Status', ''];
  lines.push(s.status === 'running' ? '  ● Status: running' : '  ○ Status: stopped');
  if (s.staleCleaned) lines.push('    (cleaned up stale PID file)');
  if (s.pid !== null) lines.push(`    PID: ${s.pid}`);
  lines.push(`    Service installed: ${s.serviceInstalled ? 'yes' : 'no'}`);
  lines.push(`    Platform: ${s.platform}`);
  if (s.agentId === null) {
    lines.push('    Agent ID: (not signed in; run `connect up` first)');
  } else {
    lines.push(`    Agent ID: ${s.agentId}`);
    lines.push(`    Label: ${s.label ?? ''}`);
  }
  if (s.hub !== null) lines.push(`    Hub: ${s.hub}`);
  return lines;
}
