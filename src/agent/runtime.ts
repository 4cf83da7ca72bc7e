import { watch, type FSWatcher, mkdirSync } from 'node:fs';
import { basename } from 'node:path';
import type { HubConnection } from './hub-connection.js';
import { Exposer, exposedEvent } from './exposer.js';
import { connectAgent } from './connect-agent.js';
import type { AgentEventSink } from './agent-events.js';
import { loadExposures, type Exposure } from '../config/exposures.js';
import { connectDir, paths } from '../config/paths.js';
import type { Credentials } from '../config/credentials.js';
import { clearAgentLock, writeAgentLock } from './agent-lock.js';
import { messageOf } from '../api/errors.js';
import { parseServiceName, type ServiceName } from '../api/service-name.js';
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
export function runAgent(
  credentials: Credentials,
  events: AgentEventSink,
  configured: Exposure[] = [],
): RunningAgent {
  const conn = connectAgent(credentials, process.env.CONNECT_DAEMON === '1' ? 'daemon' : 'agent', {
    events,
    onOpen: (req) => exposer.handleOpen(req),
  });
  const exposer: Exposer = new Exposer(conn, events);
  const agentExposer = exposer;

  // Exposures from `--config` first; those made with `connect expose` (persisted) win on a shared name. A name
  // edited by hand into something invalid is reported once and skipped (the hub would refuse it anyway).
  const wantedExposures = (report = false): Map<ServiceName, Exposure> => {
    const wanted = new Map<ServiceName, Exposure>();
    for (const e of [...configured, ...loadExposures()]) {
      try {
        wanted.set(parseServiceName(e.name), e);
      } catch (err) {
        if (report) events({ type: 'expose-failed', name: e.name, reason: messageOf(err) });
      }
    }
    return wanted;
  };
  for (const e of wantedExposures(true).values()) void agentExposer.add(e);

  const sync = async (): Promise<void> => {
    const wanted = wantedExposures();
    for (const current of agentExposer.list()) {
      const next = wanted.get(parseServiceName(current.name));
      if (!next) {
        await agentExposer.remove(current.name, false);
        events({ type: 'unexposed', name: current.name });
      }
    }
    for (const [name, e] of wanted) {
      const current = agentExposer.list().find((c) => parseServiceName(c.name) === name);
      if (current && sameTarget(current, e)) continue;
      try {
        const view = await agentExposer.add(e);
        if (view) events(exposedEvent(view, e));
      } catch (err) {
        events({ type: 'expose-failed', name: e.name, reason: messageOf(err) });
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
    events({ type: 'watch-failed', dir: connectDir(), reason: messageOf(err) });
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
