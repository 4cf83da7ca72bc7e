import type { Command } from 'commander';
import { requireCredentials } from '../config/credentials.js';
import type { ServiceView } from '../api/views.js';
import type { ServiceProtocol } from '../api/service-protocol.js';
import { ConnectError, ErrorCodes } from '../api/errors.js';
import { parseHostPort } from '../util/parse.js';
import { parseServiceName, type ServiceName } from '../api/service-name.js';
import { changeServiceGrants, exposeService, listExposed, stopExposing } from '../app/expose-service.js';
import { parseGrantees } from '../api/grants.js';
import { action } from './run.js';
import { agentEvents, colour, line, ok, printJson, recordEvent, warn } from './output.js';

const PROTOCOLS = ['auto', 'tcp', 'http', 'https'] as const;

interface ExposeFlags {
  name?: string;
  protocol: string;
  json?: boolean;
  allow: string[];
  all?: boolean;
}

const collect = (value: string, list: string[]): string[] => [...list, value];

/** `expose <name> <port>` (seed 000) or `expose <host:port> --name <name>` (seed 002). */
function parseTarget(args: string[], flags: ExposeFlags): { name: ServiceName; host: string; port: number } {
  if (args.length === 2) {
    const [name, target] = args as [string, string];
    const { host, port } = parseHostPort(target);
    return { name: parseServiceName(name), host, port };
  }
  if (args.length === 1 && flags.name) {
    const { host, port } = parseHostPort(args[0] ?? '');
    // Lower case, as the hub stores it: `expose stop` and the persisted file then agree on the name.
    return { name: parseServiceName(flags.name), host, port };
  }
  if (args.length === 1 && /^(\S+:)?\d+$/.test(args[0] ?? '')) {
    throw new ConnectError(ErrorCodes.BAD_INPUT, `name the service: connect expose ${args[0]} --name <name>`);
  }
  throw new ConnectError(
    ErrorCodes.BAD_INPUT,
    'usage: connect expose <name> <port>  or  connect expose <host:port> --name <name>',
  );
}

/** The summary of seed 000, then the `exposed` record for whoever reads the event channel. */
function printExposed(view: ServiceView, target: string, mode: string, json?: boolean): void {
  if (json) {
    printJson({ ...view, target });
  } else {
    ok(`Exposed ${colour.bold(view.name)}`);
    line(`  Target:      ${target}`);
    line(`  Tunnel port: ${view.tunnelPort}`);
    line(`  Status:      ${view.status === 'online' ? colour.green('online') : colour.yellow(view.status)}`);
    line(`  Served by:   ${mode}`);
    if (view.grants?.length) line(`  Granted to:  ${view.grants.join(', ')} (only they may reach it)`);
    line(`  Reach it:    connect reach ${view.name}`);
  }
  recordEvent({ type: 'exposed', name: parseServiceName(view.name), target, tunnelPort: view.tunnelPort });
}

export function registerExpose(program: Command): void {
  program
    .command('expose')
    .description(
      'Expose a local service: `expose <name> <port> [--allow <who>]`, `expose <host:port> --name <name>`, `expose list`, `expose stop <name>`, `expose grant|revoke <name> <who>...`',
    )
    .argument('<args...>', 'name and port, host:port with --name, `list`, or `stop <name>`')
    .option('--name <name>', 'service name (with the host:port form)')
    .option('--protocol <protocol>', 'auto|tcp|http|https', 'auto')
    .option(
      '--allow <label|key-id>',
      'only these agents (labels) or API keys (ids) may reach it; repeatable or a comma list',
      collect,
      [],
    )
    .option('--all', 'with `revoke`: remove every grant (the whole workspace may reach it again)')
    .option('--json', 'print as JSON')
    .action(
      action(async (args: string[], flags: ExposeFlags) => {
        if (args[0] === 'list' && args.length === 1) return listExposures(flags.json);
        if (args[0] === 'stop' && args.length === 2 && !/^\d+$/.test(args[1] ?? ''))
          return stopExposure(args[1] ?? '');
        // `grant <name> <who>...` has three words or more (an expose has two); `revoke <name> --all` two.
        if (args[0] === 'grant' && args.length >= 3) return grant(args[1] ?? '', args.slice(2), flags.json);
        if (args[0] === 'revoke' && (args.length >= 3 || (args.length === 2 && flags.all)))
          return revoke(args[1] ?? '', args.slice(2), flags);
        if (!(PROTOCOLS as readonly string[]).includes(flags.protocol)) {
          throw new ConnectError(
            ErrorCodes.BAD_INPUT,
            `invalid --protocol '${flags.protocol}': use auto, tcp, http or https`,
          );
        }
        const { name, host, port } = parseTarget(args, flags);
        const credentials = requireCredentials();
        const protocol = flags.protocol as ServiceProtocol | 'auto';
        // The hub connection's own lines: an expose in this process reports only re-registrations after a drop.
        const events = agentEvents((e) => e.type === 'hub-connected');
        const allow = parseGrantees(flags.allow);
        const outcome = await exposeService(credentials, { name, host, port, protocol, allow }, events);
        const target = `${host}:${port}`;
        if (outcome.servedBy === 'agent') {
          return printExposed(
            outcome.view,
            target,
            `running agent (pid ${outcome.agentPid}); kept across restarts`,
            flags.json,
          );
        }
        printExposed(
          outcome.view,
          target,
          'this process (no agent running); Ctrl+C takes it offline',
          flags.json,
        );
        if (!flags.json) line(colour.dim('  Press Ctrl+C to stop'));
        const fatal = new Promise<Error>((resolve) => outcome.conn.once('fatal', resolve));
        const stop = (): void => {
          void outcome.stop().finally(() => process.exit(0));
        };
        process.on('SIGINT', stop);
        process.on('SIGTERM', stop);
        throw await fatal;
      }),
    );
}

async function listExposures(json?: boolean): Promise<void> {
  const credentials = requireCredentials();
  const rows = await listExposed(credentials);
  if (json) return printJson(rows);
  if (rows.length === 0)
    return line('This agent exposes no services. Expose one: connect expose <name> <port>');
  line(`📡 Exposed by ${credentials.label}:`);
  line();
  for (const r of rows) {
    const status = r.status === 'online' ? colour.green('● online ') : '○ offline';
    const grants = r.grants?.length ? `  granted to ${r.grants.join(', ')}` : '';
    line(
      `  ${status} ${r.name.padEnd(20)} tunnel port ${r.tunnelPort}  target port ${r.targetPort}${grants}${r.persisted ? '' : colour.dim('  (foreground)')}`,
    );
  }
}

async function stopExposure(name: string): Promise<void> {
  const { removedAtHub } = await stopExposing(requireCredentials(), name);
  if (!removedAtHub) warn(`the hub had no service '${name}'; removed it from this machine's exposures`);
  ok(`Stopped exposing ${name}`);
}

function printGrants(name: ServiceName, grants: string[], json?: boolean): void {
  if (json) return printJson({ name, grants });
  if (grants.length === 0) return ok(`${name} has no grants: every key of the workspace may reach it`);
  ok(`${name} may be reached only by its agent and: ${grants.join(', ')}`);
}

async function grant(rawName: string, who: string[], json?: boolean): Promise<void> {
  const name = parseServiceName(rawName);
  const grants = await changeServiceGrants(requireCredentials(), name, { grant: parseGrantees(who) });
  printGrants(name, grants, json);
}

async function revoke(rawName: string, who: string[], flags: ExposeFlags): Promise<void> {
  const name = parseServiceName(rawName);
  if (flags.all && who.length > 0)
    throw new ConnectError(ErrorCodes.BAD_INPUT, 'give grantees or --all, not both');
  const grants = await changeServiceGrants(requireCredentials(), name, {
    revoke: flags.all ? 'all' : parseGrantees(who),
  });
  printGrants(name, grants, flags.json);
}
