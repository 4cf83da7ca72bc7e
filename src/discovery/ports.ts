import { ConnectError, ErrorCodes } from '../api/errors.js';
import { parsePort, parsePortRange } from '../util/parse.js';

/**
 * Ports scanned when none are named: those the seed lists and the usual ones on a developer's machine
 * (web and dev servers, databases, caches, brokers, search, SSH), in the order services are reported.
 */
export const COMMON_PORTS: readonly number[] = [
  // web servers and dev servers
  80, 443, 3000, 3001, 3002, 3003, 4000, 4200, 4321, 5000, 5001, 5173, 5174, 8000, 8001, 8008, 8080, 8081,
  8088, 8443, 8888, 9000, 9090, 9443, 4443, 6006, 7000,
  // databases
  5432, 5433, 6432, 3306, 3307, 27017, 27018, 26257, 9042, 8123, 7474, 5984,
  // caches and brokers
  6379, 6380, 11211, 5672, 5671, 15672, 1883, 8883, 4222, 8222, 9092, 61616,
  // search, observability, infrastructure
  9200, 9300, 8200, 8500, 2379, 9100, 3100, 16686, 2375, 2376,
  // remote access
  22, 2222,
];

/** `8080,8443,9000` (ranges allowed: `22,3000-3010`) → unique ports in the order given. */
export function parsePortList(value: string): number[] {
  const ports: number[] = [];
  const items = value.split(',').map((item) => item.trim());
  if (items.every((item) => item === '')) {
    throw new ConnectError(
      ErrorCodes.BAD_INPUT,
      `invalid --ports '${value}': expected a list such as 8080,8443,9000`,
    );
  }
  for (const item of items) {
    if (item === '') continue; // tolerate a trailing comma
    if (item.includes('-')) {
      const { low, high } = parsePortRange(item, '--ports range');
      for (let port = low; port <= high; port++) ports.push(port);
    } else {
      ports.push(parsePort(item, '--ports entry'));
    }
  }
  return [...new Set(ports)];
}

/** `3000-3010` → every port of the inclusive range. */
export function parseRange(value: string): number[] {
  const { low, high } = parsePortRange(value, '--range');
  return Array.from({ length: high - low + 1 }, (_, i) => low + i);
}

/** A timeout in milliseconds: a whole number from 10 to 600000. */
export function parseTimeout(value: string): number {
  const text = value.trim();
  const ms = Number(text);
  if (!/^\d+$/.test(text) || ms < 10 || ms > 600_000) {
    throw new ConnectError(
      ErrorCodes.BAD_INPUT,
      `invalid --timeout '${value}': expected milliseconds from 10 to 600000`,
    );
  }
  return ms;
}
