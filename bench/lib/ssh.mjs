/**
 * The OpenSSH baseline in the same expose/reach shape as Private Connect:
 *
 *   client → ssh -L (reaching side) ══ssh══► sshd ─► sshd's -R listener ══ssh══► ssh -R (exposing side) → server
 *
 * A loopback sshd on a free port with a throw-away host key, a throw-away user key and its own
 * AuthorizedKeysFile (so no real account's keys are touched); both clients log in as the current user.
 */
import { mkdirSync, writeFileSync, existsSync, readFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { freePort, have, Proc, run, tempDir } from './util.mjs';
import { echoOnce, waitForPort } from './tcp.mjs';

/**
 * @param {Record<string, number>} targets name → server port on 127.0.0.1
 * @returns {Promise<{ skipped: string } | { ports: Record<string, number>, version: string, cipher: string,
 *   pids: { sshd: number, sshR: number, sshL: number }, stop(): Promise<void> }>}
 */
export async function setupSsh(targets) {
  const sshd = (await have('sshd')) ?? (existsSync('/usr/sbin/sshd') ? '/usr/sbin/sshd' : undefined);
  const ssh = await have('ssh');
  const keygen = await have('ssh-keygen');
  if (!sshd || !ssh || !keygen) {
    return { skipped: 'OpenSSH server or client not installed (apt-get install -y openssh-server)' };
  }
  const dir = tempDir('pc-bench-ssh-');
  for (const name of ['host_key', 'user_key']) {
    const r = await run(keygen, ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, name)]);
    if (r.code !== 0) return { skipped: `ssh-keygen failed: ${r.out}` };
  }
  writeFileSync(join(dir, 'authorized_keys'), readFileSync(join(dir, 'user_key.pub')));
  // sshd refuses to start without its privilege-separation directory (normally created by the init script).
  if (process.getuid?.() === 0 && !existsSync('/run/sshd')) mkdirSync('/run/sshd', { mode: 0o755 });
  const port = await freePort();
  writeFileSync(
    join(dir, 'sshd_config'),
    [
      `Port ${port}`,
      'ListenAddress 127.0.0.1',
      `HostKey ${join(dir, 'host_key')}`,
      `PidFile ${join(dir, 'sshd.pid')}`,
      `AuthorizedKeysFile ${join(dir, 'authorized_keys')}`,
      'PermitRootLogin prohibit-password',
      'PubkeyAuthentication yes',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'StrictModes no',
      'UsePAM no',
      'AllowTcpForwarding yes',
      'PermitListen any',
      'PermitOpen any',
      'MaxStartups 200',
      'LogLevel ERROR',
      '',
    ].join('\n'),
  );
  const daemon = new Proc('sshd', sshd, ['-D', '-e', '-f', join(dir, 'sshd_config')], { raiseNofile: true });
  try {
    await waitForPort(port);
  } catch (err) {
    await daemon.stop();
    return { skipped: `sshd did not start: ${daemon.out.trim() || String(err)}` };
  }
  const user = userInfo().username;
  const common = [
    '-N',
    '-v',
    '-p',
    String(port),
    '-i',
    join(dir, 'user_key'),
    '-o',
    'StrictHostKeyChecking=no',
    '-o',
    'UserKnownHostsFile=/dev/null',
    '-o',
    'BatchMode=yes',
    '-o',
    'ExitOnForwardFailure=yes',
    '-o',
    'ServerAliveInterval=0',
  ];
  /** @type {Record<string, number>} */
  const remote = {};
  /** @type {Record<string, number>} */
  const local = {};
  const rArgs = [];
  const lArgs = [];
  for (const [name, target] of Object.entries(targets)) {
    remote[name] = await freePort();
    local[name] = await freePort();
    rArgs.push('-R', `127.0.0.1:${remote[name]}:127.0.0.1:${target}`);
    lArgs.push('-L', `127.0.0.1:${local[name]}:127.0.0.1:${remote[name]}`);
  }
  const sshR = new Proc('ssh -R', ssh, [...common, ...rArgs, `${user}@127.0.0.1`], { raiseNofile: true });
  const sshL = new Proc('ssh -L', ssh, [...common, ...lArgs, `${user}@127.0.0.1`], { raiseNofile: true });
  const stop = async () => {
    await Promise.all([sshL.stop(), sshR.stop()]);
    await daemon.stop();
  };
  try {
    for (const name of Object.keys(targets)) {
      await waitForPort(remote[name]);
      await waitForPort(local[name]);
    }
    if (targets.echo) await echoOnce(local.echo);
  } catch (err) {
    const why = `${String(err)}\nsshd: ${daemon.out.slice(-500)}\nssh -R: ${sshR.out.slice(-500)}\nssh -L: ${sshL.out.slice(-500)}`;
    await stop();
    return { skipped: `OpenSSH forwarding did not come up: ${why}` };
  }
  const cipher = sshL.out.match(/kex: server->client cipher: (\S+)/)?.[1] ?? 'unknown';
  const version = (await run(ssh, ['-V'])).out.trim();
  return {
    ports: local,
    version,
    cipher,
    pids: { sshd: daemon.pid, sshR: sshR.pid, sshL: sshL.pid },
    stop,
  };
}
