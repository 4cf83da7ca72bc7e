/** `connect discover` as a user runs it: the built CLI in a child process. Needs `npm run build` first. */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHttp, type Running } from './helpers/discover-servers.js';

const MAIN = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url));
const built = existsSync(MAIN);
if (!built) console.log(`skipped: ${MAIN} is missing (run npm run build)`);

interface Result {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Asynchronous on purpose: the servers under test live in this process and must keep answering. */
function run(...args: string[]): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [MAIN, 'discover', ...args], {
      env: { ...process.env, NO_COLOR: '1' },
      timeout: 30_000,
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

describe.skipIf(!built)('connect discover (built CLI)', () => {
  let server: Running;
  beforeAll(async () => {
    server = await startHttp('CLI Check', 'cli-httpd/1');
  });
  afterAll(async () => {
    await server.close();
  });

  it('prints JSON: an array of {host, port, type, name, details}', async () => {
    const { status, stdout, stderr } = await run('--ports', String(server.port), '--json');
    expect(stderr).toBe('');
    expect(status).toBe(0);
    expect(JSON.parse(stdout)).toEqual([
      {
        host: 'localhost',
        port: server.port,
        type: 'http',
        name: `cli-check-${server.port}`,
        details: 'CLI Check, cli-httpd/1',
      },
    ]);
  });

  it('prints the seed layout with an expose hint', async () => {
    const { status, stdout } = await run('--range', `${server.port}-${server.port}`, '--host', '127.0.0.1');
    expect(status).toBe(0);
    expect(stdout).toContain('🔍 Discovered 1 service(s):');
    expect(stdout).toContain(
      `  🌐 cli-check-${server.port}\n     127.0.0.1:${server.port} http (CLI Check, cli-httpd/1)`,
    );
    expect(stdout).toContain(`Expose one: connect expose cli-check-${server.port} ${server.port}`);
  });

  it('says clearly when nothing is found, and exits 0', async () => {
    const closing = await startHttp('x', 'x');
    const port = closing.port;
    await closing.close();
    const { status, stdout } = await run('--ports', String(port));
    expect(status).toBe(0);
    expect(stdout).toMatch(/No services found on localhost/);
    expect((await run('--ports', String(port), '--json')).stdout.trim()).toBe('[]');
  });

  it.each([
    ['--ports', 'abc'],
    ['--ports', '0'],
    ['--ports', '70000'],
    ['--range', '10-5'],
    ['--timeout', 'soon'],
    ['--host', 'no-such-host.invalid'],
  ])('rejects %s %s with one line and exit 1', async (flag, value) => {
    const { status, stdout, stderr } = await run(flag, value, '--ports', flag === '--ports' ? value : '1');
    expect(status).toBe(1);
    expect(stdout).toBe('');
    expect(stderr.trim().split('\n')).toHaveLength(1);
    expect(stderr).toMatch(/^\[x\] /);
    expect(stderr).not.toMatch(/\n\s+at /);
  });
});
