import { LaunchdService } from './launchd.js';
import { SystemdService } from './systemd.js';
import type { Runner } from './exec.js';
import { ConnectError, ErrorCodes } from '../api/errors.js';

/**
 * The platform's service manager (systemd, launchd) as the daemon drives it: installs, starts and stops the
 * agent's unit. Not the hub's ServiceManager, which keeps the services agents expose.
 */
export interface SystemServiceManager {
  readonly kind: 'systemd' | 'launchd';
  readonly unitPath: string;
  isInstalled(): boolean;
  /** Why the service manager cannot be used here, or undefined when it can. */
  unavailableReason(): string | undefined;
  install(rendered: string): { lingerWarning?: string };
  uninstall(): void;
  start(): void;
  stop(): void;
  pid(): number | undefined;
}

/** The service manager of this platform: systemd (Linux), launchd (macOS), none elsewhere. */
export function systemServiceManager(
  platform: NodeJS.Platform = process.platform,
  run?: Runner,
): SystemServiceManager | undefined {
  if (platform === 'linux') return new SystemdService(run);
  if (platform === 'darwin') return new LaunchdService(run);
  return undefined;
}

/** Windows (and others): the daemon is not supported; the agent runs in the foreground. */
export function assertSupportedPlatform(platform: NodeJS.Platform = process.platform): void {
  if (platform !== 'linux' && platform !== 'darwin') {
    throw new ConnectError(
      ErrorCodes.UNSUPPORTED,
      `connect daemon is not supported on ${platform}; use foreground mode: connect up`,
    );
  }
}
