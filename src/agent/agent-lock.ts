import { paths } from '../config/paths.js';
import {
  ProcessRecordFile,
  processRecordOf,
  stringField,
  type ProcessRecord,
} from '../config/process-record.js';

/** Marks that an agent (`connect up` or the daemon) is running for this identity, so `expose` can hand off. */
interface AgentLock extends ProcessRecord {
  hubUrl: string;
  startedAt: string;
}

const lockFile = (): ProcessRecordFile<AgentLock> =>
  new ProcessRecordFile<AgentLock>({
    path: paths.agentLock(),
    fields: (v) => ({
      hubUrl: stringField(v.hubUrl) ?? '',
      startedAt: stringField(v.startedAt) ?? '',
    }),
  });

export function writeAgentLock(hubUrl: string): void {
  lockFile().write({ ...processRecordOf(), hubUrl, startedAt: new Date().toISOString() });
}

/** Removes the lock unless another live agent holds it. */
export function clearAgentLock(): void {
  const file = lockFile();
  const held = file.read();
  if (held.state === 'running' && held.record.pid !== process.pid) return;
  file.remove();
}

/** The running agent of this identity, if any: its pid must be alive and still be our process. */
export function runningAgent(): AgentLock | undefined {
  const held = lockFile().read();
  return held.state === 'running' ? held.record : undefined;
}
