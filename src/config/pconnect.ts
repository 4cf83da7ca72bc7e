/**
 * pconnect.yml: the services `connect dev` reaches at once (seed 000, "Reach Multiple Services").
 *
 * The file is parsed with `yaml` (keeping node ranges) and validated against schema/pconnect.schema.json (the same
 * file editors use for completion). Every problem is reported as `<file>:<line>:<col>: <message>`.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, isAbsolute } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isMap, isPair, isScalar, LineCounter, parseDocument, type Document, type Node } from 'yaml';
import { Ajv, type ErrorObject } from 'ajv';
import { ConnectError, ErrorCodes, messageOf } from '../api/errors.js';
import { parseServiceName, type ServiceName } from '../api/service-name.js';
import { normalizeHubUrl } from './credentials.js';

export const CONFIG_NAMES = ['pconnect.yml', 'pconnect.yaml'];

export interface PconnectService {
  name: string;
  port?: number;
  host?: string;
}

/** A service this machine exposes while `connect up --config` runs. */
export interface PconnectExposure {
  name: string;
  port: number;
  host?: string;
  protocol?: 'tcp' | 'http' | 'https';
}

export interface PconnectConfig {
  hub?: string;
  /** Services to reach (`connect dev`); empty when the file only exposes. */
  services: PconnectService[];
  expose?: PconnectExposure[];
}

export interface ConfigProblem {
  line: number;
  col: number;
  message: string;
}

/** A pconnect.yml that does not parse or does not match the schema; `problems` has one entry per error. */
export class PconnectError extends ConnectError {
  constructor(
    readonly file: string,
    readonly problems: ConfigProblem[],
  ) {
    super(ErrorCodes.BAD_CONFIG, problems.map((p) => `${file}:${p.line}:${p.col}: ${p.message}`).join('\n'));
  }

  /** One line per problem, as the CLI prints them. */
  lines(): string[] {
    return this.problems.map((p) => `${this.file}:${p.line}:${p.col}: ${p.message}`);
  }
}

export const SCHEMA_PATH = fileURLToPath(new URL('../../schema/pconnect.schema.json', import.meta.url));

type ValidateFn = ((data: unknown) => boolean) & { errors?: ErrorObject[] | null };
let validator: ValidateFn | undefined;

function validate(): ValidateFn {
  if (!validator) {
    const ajv = new Ajv({ allErrors: true, strict: true });
    validator = ajv.compile(JSON.parse(readFileSync(SCHEMA_PATH, 'utf8')) as object) as ValidateFn;
  }
  return validator;
}

/** pconnect.yml (or .yaml) in `from` or the nearest parent folder that has one. */
export function findConfig(from = process.cwd()): string | undefined {
  let dir = resolve(from);
  for (;;) {
    for (const name of CONFIG_NAMES) {
      const candidate = join(dir, name);
      if (existsSync(candidate)) return candidate;
    }
    const parent = dirname(dir);
    if (parent === dir) return undefined;
    dir = parent;
  }
}

/** How to show a config path: relative to the current folder when it is under it or near it. */
export function displayPath(file: string, cwd = process.cwd()): string {
  const rel = relative(cwd, file);
  // A file below the current folder, or in one of its parents (found by walking up), reads best relative;
  // anything elsewhere (an absolute -f path into another tree) is shown as given.
  const nearby = !rel.startsWith('../') || /^(\.\.\/)+[^/]+$/.test(rel);
  return rel && !isAbsolute(rel) && nearby ? rel : file;
}

function segments(instancePath: string): (string | number)[] {
  if (!instancePath) return [];
  return instancePath
    .slice(1)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map((s) => (/^\d+$/.test(s) ? Number(s) : s));
}

function readable(path: (string | number)[]): string {
  return (
    path.reduce<string>((acc, s) => (typeof s === 'number' ? `${acc}[${s}]` : acc ? `${acc}.${s}` : s), '') ||
    'the file'
  );
}

function nodeAt(doc: Document, path: (string | number)[]): Node | undefined {
  if (path.length === 0) return doc.contents ?? undefined;
  const node = doc.getIn(path, true);
  return node && typeof node === 'object' && 'range' in node ? (node as Node) : undefined;
}

/** The key node of `key` inside the map at `path` (to point at an unknown key, not its value). */
function keyNodeAt(doc: Document, path: (string | number)[], key: string): Node | undefined {
  const map = nodeAt(doc, path);
  if (!isMap(map)) return undefined;
  const pair = map.items.find((p) => isPair(p) && isScalar(p.key) && p.key.value === key);
  return pair && isScalar(pair.key) ? pair.key : undefined;
}

function describe(err: ErrorObject, path: (string | number)[]): string {
  const where = readable(path);
  const params = err.params as Record<string, unknown>;
  switch (err.keyword) {
    case 'required':
      return path.length === 0 && params.missingProperty === 'services'
        ? "missing 'services': list the services to reach, e.g. services: [{ name: staging-db, port: 5432 }]"
        : `${where}: missing required key '${String(params.missingProperty)}'`;
    case 'additionalProperties': {
      const allowed =
        path.length === 0
          ? 'hub, services, expose'
          : path[0] === 'services'
            ? 'name, port, host'
            : path[0] === 'expose'
              ? 'name, port, host, protocol'
              : '';
      return `unknown key '${String(params.additionalProperty)}'${allowed ? ` (allowed: ${allowed})` : ''}`;
    }
    case 'type':
      return `${where} must be ${params.type === 'array' ? 'a list' : params.type === 'object' ? 'a mapping (key: value)' : `a${/^[aeiou]/.test(String(params.type)) ? 'n' : ''} ${String(params.type)}`}`;
    case 'minimum':
    case 'maximum':
      return `${where} must be a port from 1 to 65535`;
    case 'minItems':
      return `${where} must list at least one service`;
    case 'pattern':
      if (path[path.length - 1] === 'name') {
        return `${where} is not a valid service name: use letters, digits and '-' (1-63 characters, no leading or trailing '-')`;
      }
      return `${where} ${err.message ?? 'is invalid'}`;
    default:
      return `${where} ${err.message ?? 'is invalid'}`;
  }
}

/** Parses and validates pconnect.yml text; `file` is how errors name it. */
export function parseConfig(text: string, file = 'pconnect.yml'): PconnectConfig {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const at = (offset: number): { line: number; col: number } => {
    const pos = lineCounter.linePos(offset);
    return { line: pos.line, col: pos.col };
  };
  if (doc.errors.length > 0) {
    throw new PconnectError(
      file,
      doc.errors.map((e) => ({
        ...at(e.pos[0]),
        message: e.message.split('\n')[0]?.replace(/ at line \d+, column \d+:?$/, '') ?? e.message,
      })),
    );
  }
  const data: unknown = doc.toJS() ?? {};
  const check = validate();
  const problems: ConfigProblem[] = [];
  const lists = data as Partial<PconnectConfig> | null;
  if (lists && typeof lists === 'object' && lists.services === undefined && lists.expose === undefined) {
    problems.push({
      line: 1,
      col: 1,
      message:
        "missing 'services': list the services to reach, e.g. services: [{ name: staging-db, port: 5432 }]",
    });
  } else if (!check(data)) {
    for (const err of check.errors ?? []) {
      const path = segments(err.instancePath);
      const params = err.params as Record<string, unknown>;
      const node =
        err.keyword === 'additionalProperties'
          ? keyNodeAt(doc, path, String(params.additionalProperty))
          : (nodeAt(doc, path) ?? nodeAt(doc, path.slice(0, -1)));
      problems.push({ ...at(node?.range?.[0] ?? 0), message: describe(err, path) });
    }
  } else {
    const seen = new Map<ServiceName, number>();
    ((data as PconnectConfig).services ?? []).forEach((s, i) => {
      // The schema's pattern has passed: parsing only lower-cases (DNS is case-blind, so `DB` and `db` are one).
      const key = parseServiceName(s.name);
      const first = seen.get(key);
      if (first !== undefined) {
        const prior = at(nodeAt(doc, ['services', first, 'name'])?.range?.[0] ?? 0);
        problems.push({
          ...at(nodeAt(doc, ['services', i, 'name'])?.range?.[0] ?? 0),
          message: `service '${s.name}' is listed twice (first at line ${prior.line})`,
        });
      } else seen.set(key, i);
    });
  }
  // The file's hub is checked by the parser --hub goes through, and refused with the same words.
  const hub = (data as { hub?: unknown } | null)?.hub;
  if (typeof hub === 'string') {
    try {
      normalizeHubUrl(hub);
    } catch (err) {
      problems.push({ ...at(nodeAt(doc, ['hub'])?.range?.[0] ?? 0), message: messageOf(err) });
    }
  }
  if (problems.length > 0) {
    problems.sort((a, b) => a.line - b.line || a.col - b.col);
    throw new PconnectError(file, problems);
  }
  const config = data as PconnectConfig;
  return { ...config, services: config.services ?? [] };
}

export function loadConfig(path: string, display = displayPath(path)): PconnectConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new ConnectError(
      ErrorCodes.BAD_CONFIG,
      code === 'ENOENT' ? `${display} does not exist` : `cannot read ${display}: ${code ?? String(err)}`,
    );
  }
  return parseConfig(text, display);
}

/** A pconnect.yml listing `services` (for `connect dev --init`). */
export function renderConfig(config: PconnectConfig): string {
  const lines = [
    '# Private Connect: services `connect dev` reaches at once.',
    '# Schema: schema/pconnect.schema.json in the private-connect package (for editor completion).',
  ];
  if (config.hub) lines.push(`hub: ${config.hub}`);
  lines.push('services:');
  for (const s of config.services) {
    lines.push(`  - name: ${s.name}`);
    if (s.port !== undefined) lines.push(`    port: ${s.port}`);
    if (s.host !== undefined) lines.push(`    host: ${s.host}`);
  }
  return lines.join('\n') + '\n';
}
