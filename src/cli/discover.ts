import type { Command } from 'commander';
import net from 'node:net';
import { DEFAULT_TIMEOUT_MS, discover } from '../discovery/discover.js';
import { COMMON_PORTS, parsePortList, parseRange, parseTimeout } from '../discovery/ports.js';
import type { DiscoveredService, ServiceType } from '../discovery/types.js';
import { colour, line, printJson } from './output.js';
import { action } from './run.js';

interface DiscoverFlags {
  ports?: string;
  range?: string;
  host: string;
  timeout: string;
  json?: boolean;
}

const ICONS: Record<ServiceType, string> = {
  http: '🌐',
  https: '🔒',
  tls: '🔐',
  postgres: '🐘',
  redis: '📦',
  mysql: '🐬',
  mongodb: '🍃',
  ssh: '🔑',
  amqp: '🐇',
  mqtt: '📡',
  nats: '⚡',
  memcached: '🧠',
  tcp: '🔌',
};

export function registerDiscover(program: Command): void {
  program
    .command('discover')
    .description('Find the services running on this machine (or --host) and identify them by protocol')
    .option('--ports <list>', 'ports to scan, comma separated (e.g. 8080,8443,9000)')
    .option('--range <low-high>', 'a range of ports to scan (e.g. 3000-3010)')
    .option('--host <host>', 'host to scan (localhost means 127.0.0.1 and ::1)', 'localhost')
    .option(
      '--timeout <ms>',
      'connect timeout, and time allowed to identify each port',
      String(DEFAULT_TIMEOUT_MS),
    )
    .option('--json', 'print the services as JSON')
    .action(
      action(async (flags: DiscoverFlags) => {
        // Validate everything before the first packet, so that bad input fails at once.
        const timeoutMs = parseTimeout(flags.timeout);
        const listed = flags.ports === undefined ? [] : parsePortList(flags.ports);
        const ranged = flags.range === undefined ? [] : parseRange(flags.range);
        const ports =
          flags.ports === undefined && flags.range === undefined
            ? COMMON_PORTS
            : [...new Set([...listed, ...ranged])];
        const report = await discover({ host: flags.host, ports, timeoutMs });
        if (flags.json) printJson(report.services);
        else printHuman(report.services, report.host, report.portsScanned);
      }),
    );
}

function printHuman(services: DiscoveredService[], host: string, portsScanned: number): void {
  if (services.length === 0) {
    line(`🔍 No services found on ${host} (${portsScanned} port(s) scanned).`);
    line(colour.dim('  Scan more ports: connect discover --range 1-65535'));
    return;
  }
  line(`🔍 Discovered ${services.length} service(s):`);
  for (const service of services) {
    line('');
    line(`  ${ICONS[service.type]} ${colour.bold(service.name)}`);
    const details = service.details ? ` (${service.details})` : '';
    line(`     ${hostPort(service.host, service.port)} ${service.type}${colour.dim(details)}`);
  }
  // Suggest the first service we could name by protocol; an unknown `tcp` port is a poorer example.
  const example = services.find((s) => s.type !== 'tcp') ?? services[0];
  if (example) {
    const target = isLocal(host) ? String(example.port) : hostPort(host, example.port);
    line('');
    line(`  Expose one: connect expose ${example.name} ${target}`);
  }
}

function hostPort(host: string, port: number): string {
  return net.isIPv6(host) ? `[${host}]:${port}` : `${host}:${port}`;
}

function isLocal(host: string): boolean {
  return host.toLowerCase() === 'localhost' || host === '127.0.0.1' || host === '::1';
}
