/**
 * A full garbage collection whenever the process has gone quiet after allocating, when node runs with
 * `--expose-gc` (the hub under `npm start`).
 *
 * Why: `npm start` raises the hub's initial old-generation limit (`--initial-old-space-size`), because node 20's V8
 * counts every socket-read buffer allocated since the last full GC against that limit and otherwise ran a full
 * mark-compact every ~90 ms under load (a third of the hub's CPU). The price is that V8 then rarely collects on its
 * own, so the garbage of startup or of a burst of traffic would stay in an idle hub's memory. One collection once
 * the event loop is idle returns it; a busy hub is never interrupted.
 */
import { performance } from 'node:perf_hooks';

/** Event-loop utilisation under which the process counts as idle. */
const IDLE_UTILISATION = 0.02;
/** Growth of heap or external memory since the last collection that makes one worth it. */
const WORTH_COLLECTING = 1024 * 1024;

/** Starts the idle collector; returns a stop function. A no-op where gc() is not exposed. */
export function collectGarbageWhenIdle(checkEveryMs = 2000): () => void {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (typeof gc !== 'function') return () => undefined;
  const footprint = (): number => {
    const usage = process.memoryUsage();
    return usage.heapUsed + usage.external;
  };
  let afterLastGc = 0; // the first idle check collects whatever startup left
  let lastUtilisation = performance.eventLoopUtilization();
  const timer = setInterval(() => {
    const sinceLast = performance.eventLoopUtilization(lastUtilisation);
    lastUtilisation = performance.eventLoopUtilization();
    if (sinceLast.utilization > IDLE_UTILISATION) return;
    if (footprint() < afterLastGc + WORTH_COLLECTING) return;
    gc();
    afterLastGc = footprint();
  }, checkEveryMs);
  timer.unref();
  return () => clearInterval(timer);
}
