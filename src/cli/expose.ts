import type { Command } from 'commander';
import { requireCredentials } from '../config/credentials.js';
import { deleteExposure, loadExposures, saveExposure, type Exposure } from '../config/exposures.js';
import { HubApi, type ServiceView } from '../agent/hub-api.js';
import { HubConnection } from '../agent/hub-connection.js';
import { Exposer } from '../agent/exposer.js';
import { runningAgent } from '../agent/agent-lock.js';
import { detectProtocol } from '../agent/detect-protocol.js';
import type { ServiceProtocol } from '../api/service-protocol.js';
import { ConnectError, ErrorCodes } from '../api/errors.js';
import { parseHostPort } from '../util/parse.js';
import { parseServiceName } from '../api/service-name.js';
import { action } from './run.js';
import { reportStatsPeriodically } from '../agent/stats-reporter.js';
import { agentLog, colour, line, ok, printJson, warn } from './output.js';

const PROTOCOLS = ['auto', 'tcp', 'http', 'https'] as const;

interface ExposeFlags {
  name?: string;
  protocol: string;
  json?: boolean;
}

/** `expose <name> <port>` (seed 000) or `expose <host:port> --name <name>` (seed 002). */
function parseTarget(args: string[], flags: ExposeFlags): { name: string; host: string; port: number } {
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

function printExposed(view: ServiceView, target: string, mode: string, json?: boolean): void {
  if (json) return printJson({ ...view, target });
  ok(`Exposed ${colour.bold(view.name)}`);
  line(`  Target:      ${target}`);
  line(`  Tunnel port: ${view.tunnelPort}`);
  line(`  Status:      ${view.status === 'online' ? colour.green('online') : colour.yellow(view.status)}`);
  line(`  Served by:   ${mode}`);
  line(`  Reach it:    connect reach ${view.name}`);
}

async function waitOnline(
  api: HubApi,
  name: string,
  agentId: string,
  timeoutMs: number,
): Promise<ServiceView | undefined> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const view = await api.service(name);
    if (view?.status === 'online' && view.agentId === agentId) return view;
    await new Promise((r) => setTimeout(r, 150));
  }
  return undefined;
}

export function registerExpose(program: Command): void {
  program
    .command('expose')
    .description(
      'Expose a local service: `expose <name> <port>`, `expose <host:port> --name <name>`, `expose list`, `expose stop <name>`',
    )
    .argument('<args...>', 'name and port, host:port with --name, `list`, or `stop <name>`')
    .option('--name <name>', 'service name (with the host:port form)')
    .option('--protocol <protocol>', 'auto|tcp|http|https', 'auto')
    .option('--json', 'print as JSON')
    .action(
      action(async (args: string[], flags: ExposeFlags) => {
        if (args[0] === 'list' && args.length === 1) return listExposures(flags.json);
        if (args[0] === 'stop' && args.length === 2 && !/^\d+$/.test(args[1] ?? ''))
          return stopExposure(args[1] ?? '');
        if (!(PROTOCOLS as readonly string[]).includes(flags.protocol)) {
          throw new ConnectError(
            ErrorCodes.BAD_INPUT,
            `invalid --protocol '${flags.protocol}': use auto, tcp, http or https`,
          );
        }
        const { name, host, port } = parseTarget(args, flags);
        const credentials = requireCredentials();
        const api = new HubApi(credentials.hubUrl, credentials.apiKey);
        const existing = await api.service(name);
        if (existing && existing.agentId !== credentials.agentId) {
          throw new ConnectError(
            ErrorCodes.CONFLICT,
            `service '${name}' is already exposed by agent ${existing.agentLabel || existing.agentId}`,
            'Pick another name, or stop it on that agent first.',
          );
        }
        const protocol: ServiceProtocol =
          flags.protocol === 'auto' ? await detectProtocol(host, port) : (flags.protocol as ServiceProtocol);
        const exposure: Exposure = {
          name,
          targetHost: host,
          targetPort: port,
          protocol,
          createdAt: new Date().toISOString(),
        };
        const target = `${host}:${port}`;

        const agent = runningAgent();
        if (agent) {
          // Hand the exposure to the running agent: it persists and survives restarts.
          await saveExposure(exposure);
          const view = await waitOnline(api, name, credentials.agentId, 10_000);
          if (!view) {
            throw new ConnectError(
              ErrorCodes.TIMEOUT,
              `handed '${name}' to the running agent (pid ${agent.pid}), but the hub does not show it online yet`,
              'Check the agent’s log: connect daemon logs',
            );
          }
          return printExposed(
            view,
            target,
            `running agent (pid ${agent.pid}); kept across restarts`,
            flags.json,
          );
        }

        const conn = new HubConnection({
          hubUrl: credentials.hubUrl,
          apiKey: credentials.apiKey,
          agentId: credentials.agentId,
          kind: 'expose',
          log: agentLog,
          onOpen: (req) => exposer.handleOpen(req),
        });
        const exposer = new Exposer(conn, agentLog);
        reportStatsPeriodically(conn);
        await conn.start(true);
        const view = await exposer.add(exposure);
        if (!view)
          throw new ConnectError(ErrorCodes.HUB_UNREACHABLE, 'lost the hub connection while exposing');
        printExposed(view, target, 'this process (no agent running); Ctrl+C takes it offline', flags.json);
        if (!flags.json) line(colour.dim('  Press Ctrl+C to stop'));
        const fatal = new Promise<Error>((resolve) => conn.once('fatal', resolve));
        const stop = (): void => {
          void exposer.remove(name, false).finally(() => {
            conn.stop();
            process.exit(0);
          });
        };
        process.on('SIGINT', stop);
        process.on('SIGTERM', stop);
        throw await fatal;
      }),
    );
}

async function listExposures(json?: boolean): Promise<void> {
  const credentials = requireCredentials();
  const api = new HubApi(credentials.hubUrl, credentials.apiKey);
  const persisted = new Map(loadExposures().map((e) => [e.name, e]));
  const mine = (await api.services()).filter((s) => s.agentId === credentials.agentId);
  const rows = mine.map((s) => ({ ...s, persisted: persisted.has(s.name) }));
  if (json) return printJson(rows);
  if (rows.length === 0)
    return line('This agent exposes no services. Expose one: connect expose <name> <port>');
  line(`📡 Exposed by ${credentials.label}:`);
  line();
  for (const r of rows) {
    const status = r.status === 'online' ? colour.green('● online ') : '○ offline';
    line(
      `  ${status} ${r.name.padEnd(20)} tunnel port ${r.tunnelPort}  target port ${r.targetPort}${r.persisted ? '' : colour.dim('  (foreground)')}`,
    );
  }
}

async function stopExposure(name: string): Promise<void> {
  const credentials = requireCredentials();
  const api = new HubApi(credentials.hubUrl, credentials.apiKey);
  const view = await api.service(name);
  const persisted = await deleteExposure(name.toLowerCase());
  if (view && view.agentId !== credentials.agentId) {
    throw new ConnectError(
      ErrorCodes.CONFLICT,
      `service '${name}' belongs to agent ${view.agentLabel}, not this one`,
    );
  }
  const removed = view ? await api.deleteService(name) : false;
  if (!removed && !persisted)
    throw new ConnectError(ErrorCodes.NOT_FOUND, `this agent does not expose '${name}'`);
  if (!removed) warn(`the hub had no service '${name}'; removed it from this machine's exposures`);
  ok(`Stopped exposing ${name}`);
}
