/**
 * `connect up --config FILE` and the hub a checked-out file names (separate HOMEs, real processes): the file's hub is
 * checked like --hub, and PRIVATECONNECT_TOKEN is never sent to a hub only the file names (a real HTTP listener on
 * port 0 records what it is sent); with --hub, or a sign-in to that same hub, the file's hub is used.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import http from 'node:http';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  cleanupAll,
  runCli,
  signedInHome,
  spawnCli,
  startTestHub,
  tempDir,
  type TestHub,
} from './helpers/harness.js';
import { echoServer, type RunningServer } from './helpers/servers.js';

const TOKEN = 'tok_from_the_environment_0123456789';

let hub: TestHub;
let key: string;
let recorder: http.Server;
let recorderUrl: string;
let echo: RunningServer;
/** Every request the file's hub received, with the key it carried. */
const seen: { method: string; url: string; apiKey: string | undefined }[] = [];

function configFile(text: string): string {
  const file = join(tempDir('pc-trust-'), 'agent.yml');
  writeFileSync(file, text);
  return file;
}

beforeAll(async () => {
  hub = await startTestHub();
  key = await hub.createKey();
  echo = await echoServer();
  recorder = http.createServer((req, res) => {
    const apiKey = req.headers['x-api-key'];
    seen.push({
      method: req.method ?? '',
      url: req.url ?? '',
      apiKey: Array.isArray(apiKey) ? apiKey[0] : apiKey,
    });
    req.resume();
    res.writeHead(401, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ statusCode: 401, code: 'UNAUTHORIZED', message: 'unknown key' }));
  });
  await new Promise<void>((resolve) => recorder.listen(0, '127.0.0.1', () => resolve()));
  recorderUrl = `http://127.0.0.1:${(recorder.address() as { port: number }).port}`;
});

afterAll(async () => {
  recorder.close();
  await echo.close();
  await cleanupAll();
});

describe('connect up --config and the hub a file names', () => {
  it('does not send PRIVATECONNECT_TOKEN to a hub only the file names; says to pass --hub', async () => {
    const file = configFile(`hub: ${recorderUrl}\nexpose:\n  - name: leak\n    port: ${echo.port}\n`);
    const expected = `[x] ${file} names the hub ${recorderUrl}, which this machine is not signed in to: PRIVATECONNECT_TOKEN is not sent to a hub named only by a file (pass --hub ${recorderUrl} to trust it)\n`;
    // A fresh machine, and one signed in to another hub.
    const fresh = tempDir('pc-trust-home-');
    const other = await signedInHome(hub, key, 'other-hub');
    for (const home of [fresh, other]) {
      for (const args of [
        ['up', '--config', file],
        ['up', '--config', file, '--auth-only'],
      ]) {
        const r = await runCli(args, { home, env: { PRIVATECONNECT_TOKEN: TOKEN }, timeoutMs: 15_000 });
        expect(r.code).toBe(1);
        expect(r.stderr).toBe(expected);
      }
    }
    expect(seen).toEqual([]);

    // Named with --hub, the user trusts it: then (and only then) the token goes there.
    const trusted = await runCli(['up', '--config', file, '--hub', recorderUrl, '--auth-only'], {
      home: fresh,
      env: { PRIVATECONNECT_TOKEN: TOKEN },
    });
    expect(trusted.code).toBe(1);
    expect(seen.map((s) => s.apiKey)).toContain(TOKEN);
  });

  it('uses the file’s hub with the token when this machine signed in to that same hub', async () => {
    const home = await signedInHome(hub, key, 'same-hub');
    const file = configFile(
      `hub: ${hub.url}/\nexpose:\n  - name: from-trusted-file\n    port: ${echo.port}\n`,
    );
    const agent = spawnCli(['up', '--config', file], { home, env: { PRIVATECONNECT_TOKEN: key } });
    await agent.waitForEvent('exposed', { where: (e) => e.name === 'from-trusted-file' });
    await agent.stop();
  });

  it('checks the file’s hub with the parser and the words of --hub', async () => {
    const home = tempDir('pc-trust-home-');
    const flag = await runCli(['up', '--hub', 'ftp://x', '--api-key', key, '--auth-only'], { home });
    expect(flag.code).toBe(1);
    const message = flag.stderr.replace(/^\[x\] /, '');
    expect(message).toBe("invalid hub URL 'ftp://x': use http:// or https://\n");
    const file = configFile('hub: ftp://x\nexpose:\n  - name: x\n    port: 1\n');
    const fromFile = await runCli(['up', '--config', file, '--auth-only'], { home });
    expect(fromFile.code).toBe(1);
    expect(fromFile.stderr).toBe(`[x] ${file}:1:6: ${message}`);
  });
});
