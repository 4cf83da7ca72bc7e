import type { Logger } from 'pino';
import type { AuditRecord, Store } from './store/index.js';
import { ResetCode } from '../protocol/frames.js';
import { newId } from '../util/ids.js';
import { messageOf } from '../api/errors.js';
import { throttle } from '../util/throttle.js';

/** Rows wait at most this long in memory before they are written (one INSERT for the whole batch). */
export const AUDIT_FLUSH_MS = 1_000;
/** A batch this large is written at once, without waiting for the timer. */
export const AUDIT_BATCH_ROWS = 500;
/** Rows held while the store is slow or away; beyond this, new rows are dropped (and counted in the log). */
export const AUDIT_MAX_QUEUED = 20_000;
/** The table keeps the newest this many rows of all workspaces… */
export const AUDIT_RETAIN_ROWS = 100_000;
/** …and none that ended more than this long ago. */
export const AUDIT_RETAIN_DAYS = 30;
/** How often the table is pruned to those bounds (and once at start). */
export const AUDIT_PRUNE_MS = 10 * 60_000;
/**
 * Refused OPENs one session may add to the log: a burst, then this many per second. A peer can ask for unknown
 * services at the rate it sends 20-byte frames; past this it is counted in one throttled log line instead, so it
 * cannot push real reaches out of the table (AUDIT_RETAIN_ROWS).
 */
export const AUDIT_REFUSALS_BURST = 100;
export const AUDIT_REFUSALS_PER_SECOND = 10;
/** At most one 'audit rows dropped / write failed' line this often. */
const AUDIT_WARN_MS = 10_000;
/** Longest reason kept in a row (reasons are one line; a peer's RST reason is already short). */
const AUDIT_REASON_MAX = 200;

/** A row as the relay reports it: the log stamps its id and end time. */
export type AuditEntry = Omit<AuditRecord, 'id' | 'startedAt' | 'endedAt' | 'durationMs'> & {
  /** Date.now() when the reach began. */
  startedMs: number;
};

/** The name of a reset code (`CANCEL`, `OFFLINE`, …); a number from a newer peer stays a number. */
export function resetCodeName(code: number | undefined): string | null {
  if (code === undefined) return null;
  return (ResetCode as unknown as Record<number, string | undefined>)[code] ?? String(code);
}

/**
 * The hub's audit log: every reach of a service, written when its stream ends. It must never slow or break the
 * relay: `record` only pushes onto an array; rows are written in batches off the data path, a failing write is
 * logged (throttled) and its rows dropped, and a store that stays away cannot grow the queue past
 * AUDIT_MAX_QUEUED. The table is bounded by AUDIT_RETAIN_ROWS and AUDIT_RETAIN_DAYS, pruned every AUDIT_PRUNE_MS.
 */
export class AuditLog {
  private queue: AuditRecord[] = [];
  private writing: Promise<void> = Promise.resolve();
  private readonly flushTimer: NodeJS.Timeout;
  private readonly pruneTimer: NodeJS.Timeout;
  private readonly warn: (message: string, err?: string) => void;
  private closed = false;

  constructor(
    private readonly store: Store,
    private readonly log: Logger,
    private readonly retain = { rows: AUDIT_RETAIN_ROWS, days: AUDIT_RETAIN_DAYS },
  ) {
    this.warn = throttle(AUDIT_WARN_MS, (times: number, message: string, err?: string) =>
      log.warn({ times, err }, message),
    );
    this.flushTimer = setInterval(() => void this.flush(), AUDIT_FLUSH_MS);
    this.flushTimer.unref();
    this.pruneTimer = setInterval(() => void this.prune(), AUDIT_PRUNE_MS);
    this.pruneTimer.unref();
    void this.prune();
  }

  /** Logs (throttled) a refused reach left out of the table by AUDIT_REFUSALS_PER_SECOND. */
  skipped(session: string): void {
    this.warn(
      `audit log: session ${session} is refused OPENs faster than ${AUDIT_REFUSALS_PER_SECOND}/s; not recording each`,
    );
  }

  record(entry: AuditEntry): void {
    if (this.closed) return;
    if (this.queue.length >= AUDIT_MAX_QUEUED) {
      this.warn(`audit log: ${AUDIT_MAX_QUEUED} rows already wait for the store; dropping new rows`);
      return;
    }
    const now = Date.now();
    const { startedMs, ...row } = entry;
    this.queue.push({
      ...row,
      id: newId('aud'),
      startedAt: new Date(startedMs).toISOString(),
      endedAt: new Date(now).toISOString(),
      durationMs: Math.max(0, now - startedMs),
      reason: row.reason === null ? null : row.reason.slice(0, AUDIT_REASON_MAX),
    });
    if (this.queue.length >= AUDIT_BATCH_ROWS) void this.flush();
  }

  /** Writes what is queued (after any write in progress); never rejects. */
  flush(): Promise<void> {
    if (this.queue.length === 0) return this.writing;
    const batch = this.queue;
    this.queue = [];
    this.writing = this.writing.then(() =>
      this.store.insertAudit(batch).catch((err: unknown) => {
        this.warn(`audit log: could not write ${batch.length} rows`, messageOf(err));
      }),
    );
    return this.writing;
  }

  async prune(): Promise<void> {
    const before = new Date(Date.now() - this.retain.days * 86_400_000).toISOString();
    try {
      const deleted = await this.store.pruneAudit(this.retain.rows, before);
      if (deleted > 0) this.log.info({ deleted }, 'audit log pruned');
    } catch (err) {
      this.warn('audit log: could not prune', messageOf(err));
    }
  }

  /** Stops the timers and writes what is left (the hub closes its store after this). */
  async close(): Promise<void> {
    clearInterval(this.flushTimer);
    clearInterval(this.pruneTimer);
    await this.flush();
    this.closed = true;
  }
}
