import { LaunchdService } from './launchd.js';
import { SystemdService } from './systemd.js';
import type { Runner } from './exec.js';
import { ConnectError, ErrorCodes } from '../api/errors.js';

/** What `install`, `start`, `stop` and `status` need from the platform's service manager. */
export interface ServiceManager {
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
export function serviceManager(
  platform: NodeJS.Platform = process.platform,
  run?: Runner,
): ServiceManager | undefined {
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
