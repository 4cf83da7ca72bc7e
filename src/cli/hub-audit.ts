import type { Command } from 'commander';
import { readAudit } from '../app/audit-log.js';
import type { AuditView } from '../api/views.js';
import { ConnectError, ErrorCodes } from '../api/errors.js';
import { AUDIT_PAGE_MAX } from '../api/http-bodies.js';
import { echoInput } from '../util/parse.js';
import { action } from './run.js';
import { colour, line, printJson } from './output.js';

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];

function bytes(n: number): string {
  let value = n;
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${n} B` : `${value.toFixed(1)} ${UNITS[unit]}`;
}

function duration(ms: number): string {
  if (ms < 1000) return `${ms} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  return `${Math.floor(ms / 60_000)} min ${Math.round((ms % 60_000) / 1000)} s`;
}

function ending(row: AuditView): string {
  if (row.end === 'fin') return colour.green('fin');
  const text = `${row.end}${row.code ? ` ${row.code}` : ''}`;
  return row.end === 'refused' ? colour.red(text) : colour.yellow(text);
}

function parseLimit(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = /^\d{1,4}$/.test(value) ? Number(value) : NaN;
  if (!(n >= 1 && n <= AUDIT_PAGE_MAX)) {
    throw new ConnectError(
      ErrorCodes.BAD_INPUT,
      `invalid --limit '${echoInput(value)}': expected a number from 1 to ${AUDIT_PAGE_MAX}`,
    );
  }
  return n;
}

/** `connect hub audit`: who reached which service, how much it carried and how it ended (newest first). */
export function registerHubAudit(hub: Command): void {
  hub
    .command('audit')
    .description('Show the reaches of the workspace’s services, newest first (read through the hub’s API)')
    .option('--service <name>', 'only this service')
    .option('--limit <n>', `at most this many rows (1-${AUDIT_PAGE_MAX}, default 100)`)
    .option('--hub <url>', 'hub URL (default: the hub this machine signed in to)')
    .option('--api-key <key>', 'API key (or PRIVATECONNECT_TOKEN; default: the saved one for that hub)')
    .option('--json', 'print as JSON')
    .action(
      action(
        async (opts: { service?: string; limit?: string; hub?: string; apiKey?: string; json?: boolean }) => {
          const { hubUrl, rows } = await readAudit({
            hub: opts.hub,
            apiKey: opts.apiKey,
            service: opts.service,
            limit: parseLimit(opts.limit),
          });
          if (opts.json) return printJson(rows);
          if (rows.length === 0) {
            line(`No reaches recorded${opts.service ? ` for ${opts.service}` : ''} at ${hubUrl}.`);
            return;
          }
          const table = rows.map((r) => [
            r.endedAt.replace('T', ' ').replace(/\.\d+Z$/, 'Z'),
            r.service,
            r.source,
            r.agentLabel ?? r.remote ?? '?',
            bytes(r.bytesToService),
            bytes(r.bytesFromService),
            duration(r.durationMs),
          ]);
          const head = ['ENDED', 'SERVICE', 'SOURCE', 'FROM', 'SENT', 'RECEIVED', 'DURATION'];
          const widths = head.map((h, i) => Math.max(h.length, ...table.map((cells) => cells[i]!.length)));
          const render = (cells: string[]): string => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ');
          line(colour.bold(`${render(head)}  END`));
          table.forEach((cells, i) => {
            const row = rows[i]!;
            const reason = row.end !== 'fin' && row.reason ? colour.dim(`  ${row.reason}`) : '';
            line(`${render(cells)}  ${ending(row)}${reason}`);
          });
        },
      ),
    );
}
