import { afterAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { connect as tlsConnect } from 'node:tls';
import { cleanupAll, runCli, spawnCli, startTestHub, tempDir } from './helpers/harness.js';
import { echoServer, roundTrip } from './helpers/servers.js';
import { selfSignedCert } from './helpers/cert.js';

const made = selfSignedCert();
if (!made) console.log('[skip] TLS hub test: openssl is not installed to make a throw-away certificate');

afterAll(cleanupAll);

describe.skipIf(!made)('a hub with --tls-cert and --tls-key', () => {
  it('serves https and wss; agents expose and reach through it', async () => {
    const { certFile: cert, keyFile: key } = made!;
    const hub = await startTestHub({ args: ['--tls-cert', cert, '--tls-key', key] });
    expect(hub.url).toMatch(/^https:\/\//);
    // The hub chooses AES-128-GCM over node's default AES-256-GCM: cheaper per relayed byte.
    const cipher = await new Promise<string>((resolve, reject) => {
      const s = tlsConnect(
        { host: '127.0.0.1', port: hub.port, servername: 'localhost', ca: readFileSync(cert) },
        () => {
          resolve(s.getCipher().name);
          s.end();
        },
      );
      s.on('error', reject);
    });
    expect(cipher).toBe('TLS_AES_128_GCM_SHA256');
    const apiKey = await hub.createKey();
    const env = { NODE_EXTRA_CA_CERTS: cert };
    const [homeA, homeB] = [tempDir('pc-tls-a-'), tempDir('pc-tls-b-')];
    for (const [home, label] of [
      [homeA, 'tls-a'],
      [homeB, 'tls-b'],
    ] as const) {
      const r = await runCli(['up', '--auth-only', '--hub', hub.url, '--api-key', apiKey, '--label', label], {
        home,
        env,
      });
      expect(r.code).toBe(0);
    }
    const echo = await echoServer();
    const exposer = spawnCli(['expose', 'secure-echo', String(echo.port)], { home: homeA, env });
    await exposer.waitForEvent('exposed');
    const reacher = spawnCli(['reach', 'secure-echo', '0'], { home: homeB, env });
    const port = (await reacher.waitForEvent('reaching')).localPort;
    const r = await roundTrip(port, 5 * 1024 * 1024);
    expect(r.receivedBytes).toBe(5 * 1024 * 1024);
    expect(r.received).toBe(r.sent);

    // Without trusting the certificate, sign-in fails with one clear line.
    const untrusted = await runCli(['up', '--auth-only', '--hub', hub.url, '--api-key', apiKey], {
      home: tempDir('pc-tls-c-'),
    });
    expect(untrusted.code).toBe(1);
    expect(untrusted.stderr).toMatch(/cannot reach the hub .*certificate/i);
    await echo.close();
  });
});
