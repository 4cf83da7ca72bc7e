import { watch, type FSWatcher, mkdirSync } from 'node:fs';
import { basename } from 'node:path';
import { HubConnection, type LogFn } from './hub-connection.js';
import { Exposer } from './exposer.js';
import { loadExposures, type Exposure } from '../config/exposures.js';
import { connectDir, paths } from '../config/paths.js';
import type { Credentials } from '../config/credentials.js';
import { clearAgentLock, writeAgentLock } from './agent-lock.js';
import { messageOf } from '../api/errors.js';
import { reportStatsPeriodically } from './stats-reporter.js';

export interface RunningAgent {
  conn: HubConnection;
  exposer: Exposer;
  /** Resolves when the agent stops for good (a refused key): the error says why. */
  fatal: Promise<Error>;
  stop(): void;
}

const sameTarget = (a: Exposure, b: Exposure): boolean =>
  a.targetHost === b.targetHost && a.targetPort === b.targetPort && a.protocol === b.protocol;

/**
 * The long-running agent (`connect up`, the daemon): one session to the hub, serving the persisted
 * exposures and picking up changes `connect expose` makes to ~/.connect/exposures.json while it runs.
 */
export function runAgent(credentials: Credentials, log: LogFn, configured: Exposure[] = []): RunningAgent {
  const conn = new HubConnection({
    hubUrl: credentials.hubUrl,
    apiKey: credentials.apiKey,
    agentId: credentials.agentId,
    kind: process.env.CONNECT_DAEMON === '1' ? 'daemon' : 'agent',
    log,
    onOpen: (req) => exposer.handleOpen(req),
  });
  conn.on('connected', () => log('info', '[ok] Connected to hub via WebSocket'));
  const exposer: Exposer = new Exposer(conn, log);
  const agentExposer = exposer;

  // Exposures from `--config` first; those made with `connect expose` (persisted) win on a shared name.
  const wantedExposures = (): Map<string, Exposure> =>
    new Map([...configured, ...loadExposures()].map((e) => [e.name.toLowerCase(), e]));
  for (const e of wantedExposures().values()) void agentExposer.add(e);

  const sync = async (): Promise<void> => {
    const wanted = wantedExposures();
    for (const current of agentExposer.list()) {
      const next = wanted.get(current.name.toLowerCase());
      if (!next) {
        await agentExposer.remove(current.name, false);
        log('info', `Stopped exposing ${current.name}`);
      }
    }
    for (const e of wanted.values()) {
      const current = agentExposer.list().find((c) => c.name.toLowerCase() === e.name.toLowerCase());
      if (current && sameTarget(current, e)) continue;
      try {
        const view = await agentExposer.add(e);
        if (view)
          log(
            'info',
            `[ok] Exposing ${view.name} → ${e.targetHost}:${e.targetPort} (tunnel port ${view.tunnelPort})`,
          );
      } catch (err) {
        log('error', `[x] Cannot expose ${e.name}: ${messageOf(err)}`);
      }
    }
  };

  // Watch the folder, not the file: the file is replaced by rename on every write.
  mkdirSync(connectDir(), { recursive: true, mode: 0o700 });
  let debounce: NodeJS.Timeout | undefined;
  let watcher: FSWatcher | undefined;
  try {
    watcher = watch(connectDir(), (_event, filename) => {
      if (filename !== basename(paths.exposures())) return;
      clearTimeout(debounce);
      debounce = setTimeout(() => void sync(), 50);
    });
  } catch (err) {
    log('warn', `[!] Cannot watch ${connectDir()} for new exposures: ${messageOf(err)}`);
  }

  writeAgentLock(credentials.hubUrl);
  const fatal = new Promise<Error>((resolve) => conn.once('fatal', resolve));
  reportStatsPeriodically(conn);
  conn.start().catch(() => undefined);

  return {
    conn,
    exposer: agentExposer,
    fatal,
    stop: () => {
      watcher?.close();
      clearTimeout(debounce);
      conn.stop();
      clearAgentLock();
    },
  };
}
