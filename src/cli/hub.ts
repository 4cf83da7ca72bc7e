import type { Command } from 'commander';
import { resolve } from 'node:path';
import { createKey, listKeys, revokeKey, type StoreLocation } from '../app/key-admin.js';
import { DEFAULT_HUB_LIMITS, hubLimits, runHub, type HubLimits } from '../app/hub-runner.js';
import { paths, tildify } from '../config/paths.js';
import { createLogger } from '../util/logger.js';
import { ConnectError, ErrorCodes } from '../api/errors.js';
import { parseListenPort, parsePortRange } from '../util/parse.js';
import { collectGarbageWhenIdle } from '../util/idle-gc.js';
import { DEFAULT_INITIAL_WINDOW } from '../protocol/frames.js';
import { action } from './run.js';
import { registerHubAudit } from './hub-audit.js';
import { line, ok, printJson, colour, warn } from './output.js';

interface StoreFlags {
  dataDir?: string;
  databaseUrl?: string;
}

const dataDirOf = (flags: StoreFlags): string =>
  resolve(flags.dataDir ?? process.env.CONNECT_HUB_DATA_DIR ?? paths.hubDataDir());
const databaseUrlOf = (flags: StoreFlags): string | undefined =>
  flags.databaseUrl ?? process.env.CONNECT_DATABASE_URL;

const storeOf = (flags: StoreFlags): StoreLocation => ({
  dataDir: dataDirOf(flags),
  databaseUrl: databaseUrlOf(flags),
});

/** `--limit` names: the HubLimits keys in kebab case (sessionsPerKey → sessions-per-key). */
const LIMIT_NAMES = new Map(
  (Object.keys(DEFAULT_HUB_LIMITS) as (keyof HubLimits)[]).map((key) => [
    key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`),
    key,
  ]),
);
/** Longest delay a timer takes (node fires a longer one at once). */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** `--limit name=value` flags (repeatable; the last one of a name wins) over the hub's default limits. */
export function parseLimitFlags(specs: readonly string[]): { limits: HubLimits; given: string[] } {
  const overrides: Partial<HubLimits> = {};
  const given = new Map<string, number>();
  for (const spec of specs) {
    const eq = spec.indexOf('=');
    if (eq < 0) {
      throw new ConnectError(
        ErrorCodes.BAD_INPUT,
        `invalid --limit '${spec}': use name=value, e.g. --limit sessions-per-key=64`,
      );
    }
    const name = spec.slice(0, eq).trim();
    const text = spec.slice(eq + 1).trim();
    const key = LIMIT_NAMES.get(name);
    if (!key) {
      throw new ConnectError(
        ErrorCodes.BAD_INPUT,
        `unknown --limit '${name}': use one of ${[...LIMIT_NAMES.keys()].join(', ')}`,
      );
    }
    const value = /^[0-9]+$/.test(text) ? Number(text) : NaN;
    if (!Number.isSafeInteger(value) || value < 1) {
      throw new ConnectError(
        ErrorCodes.BAD_INPUT,
        `--limit ${name} must be a positive integer, got '${text}'`,
      );
    }
    if (key.endsWith('Ms') && value > MAX_TIMER_MS) {
      throw new ConnectError(
        ErrorCodes.BAD_INPUT,
        `--limit ${name} must be at most ${MAX_TIMER_MS} (milliseconds), got ${value}`,
      );
    }
    if (key === 'maxStreamWindow' && value < DEFAULT_INITIAL_WINDOW) {
      // Agents assume the window they asked for (frames.ts): a smaller relayed one would reset honest uploads.
      throw new ConnectError(
        ErrorCodes.BAD_INPUT,
        `--limit ${name} must be at least the agents' window of ${DEFAULT_INITIAL_WINDOW} bytes, got ${value}`,
      );
    }
    overrides[key] = value;
    given.set(name, value);
  }
  return { limits: hubLimits(overrides), given: [...given].map(([name, value]) => `${name}=${value}`) };
}

/** `reach (staging-db, cache) until 2026-…`: a key's role, its services when listed, its expiry when set. */
function keyScopeText(k: {
  role: string;
  services: readonly string[] | null;
  expiresAt: string | null;
}): string {
  const services = k.services ? ` (${k.services.join(', ')})` : '';
  return `${k.role}${services}${k.expiresAt ? ` until ${k.expiresAt}` : ''}`;
}

export function registerHubCommands(program: Command): void {
  const hub = program.command('hub').description('Run and administer a hub');

  hub
    .command('start')
    .description('Run a hub in the foreground (embedded SQLite store unless --database-url is given)')
    .option('--host <host>', 'address of the HTTP API and agent endpoint', '127.0.0.1')
    .option('--port <port>', 'port of the HTTP API and agent endpoint', '8787')
    .option('--data-dir <dir>', 'folder of the embedded store (default ~/.connect/hub)')
    .option('--database-url <url>', 'use PostgreSQL at this URL instead of the embedded store')
    .option('--tunnel-host <host>', 'address the tunnel ports listen on', '127.0.0.1')
    .option('--tunnel-ports <range>', 'range of tunnel ports to allocate from', '23000-23999')
    .option(
      '--tunnel-allow <cidrs>',
      'who may connect to the tunnel ports (CIDRs or addresses, comma-separated; required beyond loopback)',
    )
    .option('--tls-cert <file>', 'serve HTTPS and wss:// with this certificate (PEM)')
    .option('--tls-key <file>', 'private key of --tls-cert (PEM)')
    .option(
      '--limit <name=value>',
      `change one of the hub's limits (repeatable): ${[...LIMIT_NAMES.keys()].join(', ')}`,
      (spec: string, previous: string[] = []) => [...previous, spec],
    )
    .action(
      action(
        async (
          opts: StoreFlags & {
            host: string;
            port: string;
            tunnelHost: string;
            tunnelPorts: string;
            tunnelAllow?: string;
            tlsCert?: string;
            tlsKey?: string;
            limit?: string[];
          },
        ) => {
          const port = parseListenPort(opts.port, '--port');
          const { limits, given } = parseLimitFlags(opts.limit ?? []);
          const tunnelPorts = parsePortRange(opts.tunnelPorts, '--tunnel-ports');
          if (Boolean(opts.tlsCert) !== Boolean(opts.tlsKey)) {
            throw new ConnectError(ErrorCodes.BAD_INPUT, '--tls-cert and --tls-key must be given together');
          }
          const dataDir = dataDirOf(opts);
          const databaseUrl = databaseUrlOf(opts);
          const logger = createLogger('hub');
          // Crash guards are installed only once the hub runs: a failure to start exits with its one-line error.
          const hub = await runHub({
            host: opts.host,
            port,
            dataDir,
            databaseUrl,
            tunnelHost: opts.tunnelHost,
            tunnelPorts,
            tunnelAllow: opts.tunnelAllow?.split(',').map((entry) => entry.trim()),
            tls:
              opts.tlsCert && opts.tlsKey
                ? { certFile: resolve(opts.tlsCert), keyFile: resolve(opts.tlsKey) }
                : undefined,
            limits,
            logger,
          });
          // Name the store only when `keys create` would not find it by default.
          const keysCmd = databaseUrl
            ? 'connect hub keys create --database-url <url>'
            : dataDir === dataDirOf({})
              ? 'connect hub keys create'
              : `connect hub keys create --data-dir ${tildify(dataDir)}`;
          line(`🚀 Private Connect hub listening on ${hub.url}`);
          line(`  Store:        ${databaseUrl ? 'postgres' : `sqlite ${tildify(dataDir)}/hub.db`}`);
          line(`  Tunnel ports: ${opts.tunnelHost}:${tunnelPorts.low}-${tunnelPorts.high}`);
          if (opts.tunnelAllow !== undefined) {
            warn(
              `tunnel ports give raw streams to services and listen on ${opts.tunnelHost}: only ${opts.tunnelAllow} may connect`,
            );
          }
          if (given.length > 0) line(`  Limits:       ${given.join(' ')} (others: defaults)`);
          line(`  Health:       ${hub.url}/health`);
          line(`  Create an API key: ${keysCmd}`);
          line(`  Sign in an agent:  connect up --hub ${hub.url} --api-key <key>`);
          collectGarbageWhenIdle();

          let stopping = false;
          const stop = (signal: string): void => {
            if (stopping) return;
            stopping = true;
            logger.info({ signal }, 'hub shutting down');
            const force = setTimeout(() => process.exit(1), 10_000);
            force.unref();
            void hub.close().then(() => process.exit(0));
          };
          process.on('SIGINT', () => stop('SIGINT'));
          process.on('SIGTERM', () => stop('SIGTERM'));
        },
      ),
    );

  registerHubAudit(hub);

  const keys = hub.command('keys').description('Manage API keys (run where the hub’s store is)');
  const storeOptions = (cmd: Command): Command =>
    cmd
      .option('--data-dir <dir>', 'folder of the embedded store (default ~/.connect/hub)')
      .option('--database-url <url>', 'PostgreSQL URL, when the hub uses PostgreSQL');

  storeOptions(keys.command('create'))
    .description('Create an API key; it is printed once')
    .option('--workspace <name>', 'workspace the key belongs to (created if new)', 'default')
    .option('--label <text>', 'a note to recognise the key by')
    .option(
      '--role <role>',
      'admin (everything, the default), agent (what an agent does) or reach (reach only)',
    )
    .option('--services <names>', 'the only services the key may reach, comma-separated')
    .option('--expires <duration>', 'the key stops working after this long (e.g. 24h, 30m, 7d)')
    .option('--json', 'print {"key", "workspace", "role", "services", "expiresAt"} as JSON')
    .action(
      action(
        async (
          opts: StoreFlags & {
            workspace: string;
            label?: string;
            role?: string;
            services?: string;
            expires?: string;
            json?: boolean;
          },
        ) => {
          const created = await createKey(storeOf(opts), opts.workspace, opts);
          if (opts.json) {
            const { key, workspace, role, services, expiresAt } = created;
            return printJson({ key, workspace, role, services, expiresAt });
          }
          ok(`API key created for workspace ${created.workspace}`);
          line(`  Role: ${keyScopeText(created)}`);
          line();
          line(`  ${colour.bold(created.key)}`);
          line();
          line('  It is shown only this once: store it now.');
          line(`  Sign in an agent: connect up --api-key ${created.key}`);
        },
      ),
    );

  storeOptions(keys.command('list'))
    .description('List API keys (ids only, never the keys)')
    .option('--json', 'print as JSON')
    .action(
      action(async (opts: StoreFlags & { json?: boolean }) => {
        const rows = await listKeys(storeOf(opts));
        if (opts.json) return printJson(rows);
        if (rows.length === 0) return line('No API keys yet. Create one: connect hub keys create');
        for (const r of rows) {
          const state = r.revokedAt ? colour.dim(`revoked ${r.revokedAt}`) : 'active';
          const expired = !r.revokedAt && r.expiresAt !== null && Date.parse(r.expiresAt) <= Date.now();
          const shown = expired ? colour.dim(`expired ${r.expiresAt}`) : state;
          line(
            `  ${r.id}  ${r.workspace.padEnd(16)} ${shown}  ${keyScopeText(r)}  ${r.label ?? ''}`.trimEnd(),
          );
        }
      }),
    );

  storeOptions(keys.command('revoke'))
    .description('Revoke an API key by its id (as `keys list` shows) or by the key itself')
    .argument('<id>', 'key id or the full key')
    .action(
      action(async (id: string, opts: StoreFlags) => {
        const keyId = await revokeKey(storeOf(opts), id);
        ok(`API key ${keyId} revoked`);
      }),
    );
}
