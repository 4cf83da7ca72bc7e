import { describe, expect, it } from 'vitest';
import { parseConfig, PconnectError, renderConfig } from './pconnect.js';

function problems(text: string): string[] {
  try {
    parseConfig(text);
  } catch (err) {
    if (err instanceof PconnectError) return err.lines();
    throw err;
  }
  return [];
}

describe('pconnect.yml', () => {
  it('reads the seed’s file', () => {
    const config = parseConfig(
      '# pconnect.yml\nservices:\n  - name: staging-db\n    port: 5432\n  - name: staging-redis\n    port: 6379\n  - name: staging-api\n    port: 8080\n',
    );
    expect(config.services.map((s) => `${s.name}:${s.port}`)).toEqual([
      'staging-db:5432',
      'staging-redis:6379',
      'staging-api:8080',
    ]);
  });

  it('accepts a hub and services without a port', () => {
    expect(parseConfig('hub: https://hub.privateconnect.io\nservices:\n  - name: db\n')).toEqual({
      hub: 'https://hub.privateconnect.io',
      services: [{ name: 'db' }],
    });
  });

  it('reports YAML syntax errors with line and column', () => {
    const lines = problems('services:\n  - name: a\n    port: "5432\n');
    expect(lines.length).toBeGreaterThan(0);
    for (const l of lines) expect(l).toMatch(/^pconnect\.yml:\d+:\d+: \S/);
    expect(problems('services:\n  - name: a\n    name: b\n')[0]).toMatch(
      /^pconnect\.yml:3:5: Map keys must be unique/,
    );
  });

  it('reports every schema violation at its own line and column', () => {
    expect(
      problems(
        'services:\n  - name: staging-db\n    port: 99999\n  - name: bad_name\n    prt: 3\n  - port: 80\nhub: ftp://x\nextra: 1\n',
      ),
    ).toEqual([
      'pconnect.yml:3:11: services[0].port must be a port from 1 to 65535',
      "pconnect.yml:4:11: services[1].name is not a valid service name: use letters, digits and '-' (1-63 characters, no leading or trailing '-')",
      "pconnect.yml:5:5: unknown key 'prt' (allowed: name, port, host)",
      "pconnect.yml:6:5: services[2]: missing required key 'name'",
      "pconnect.yml:7:6: invalid hub URL 'ftp://x': use http:// or https://",
      "pconnect.yml:8:1: unknown key 'extra' (allowed: hub, services, expose)",
    ]);
    expect(problems('services: staging-db\n')).toEqual(['pconnect.yml:1:11: services must be a list']);
    expect(problems('services:\n  - name: db\n    port: "5432"\n')).toEqual([
      'pconnect.yml:3:11: services[0].port must be an integer',
    ]);
    expect(problems('')[0]).toMatch(/^pconnect\.yml:1:1: missing 'services'/);
    expect(problems('services: []\n')).toEqual([
      'pconnect.yml:1:11: services must list at least one service',
    ]);
  });

  it('checks the hub as --hub is checked, with the same words', () => {
    expect(problems('hub: not a url\nservices:\n  - name: db\n')).toEqual([
      "pconnect.yml:1:6: invalid hub URL 'not a url': expected http(s)://host[:port]",
    ]);
    expect(problems('hub: http://hub.example:99999\nservices:\n  - name: db\n')).toEqual([
      "pconnect.yml:1:6: invalid hub URL 'http://hub.example:99999': expected http(s)://host[:port]",
    ]);
    expect(problems("hub: ''\nservices:\n  - name: db\n")).toEqual([
      "pconnect.yml:1:6: invalid hub URL '': expected http(s)://host[:port]",
    ]);
    expect(parseConfig('hub: HTTPS://Hub.Example/\nservices:\n  - name: db\n').hub).toBe(
      'HTTPS://Hub.Example/',
    );
  });

  it('reports a name listed twice', () => {
    expect(problems('services:\n  - name: db\n  - name: DB\n')).toEqual([
      "pconnect.yml:3:11: service 'DB' is listed twice (first at line 2)",
    ]);
  });

  it('renders a file that parses back to the same config', () => {
    const config = {
      hub: 'http://127.0.0.1:8787',
      services: [
        { name: 'a', port: 1 },
        { name: 'b', port: 2 },
      ],
    };
    expect(parseConfig(renderConfig(config))).toEqual(config);
  });
});

describe('pconnect.yml expose list (connect up --config)', () => {
  it('parses exposures and allows a file without services', () => {
    const config = parseConfig(
      'hub: http://127.0.0.1:8787\nexpose:\n  - name: api\n    port: 8080\n    protocol: http\n',
    );
    expect(config.services).toEqual([]);
    expect(config.expose).toEqual([{ name: 'api', port: 8080, protocol: 'http' }]);
  });

  it('points at a bad exposure with line and column', () => {
    expect(() => parseConfig('expose:\n  - name: api\n    port: 0\n')).toThrow(
      /^pconnect\.yml:3:11: expose\[0\]\.port must be a port from 1 to 65535$/,
    );
  });
});
