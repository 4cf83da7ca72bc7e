import { connect } from 'node:net';
import { sleep } from './util.mjs';

/** Waits until 127.0.0.1:port accepts TCP connections. */
export async function waitForPort(/** @type {number} */ port, timeoutMs = 15_000) {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    const ok = await new Promise((resolve) => {
      const s = connect({ host: '127.0.0.1', port });
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    await sleep(50);
  }
  throw new Error(`nothing listens on 127.0.0.1:${port} after ${timeoutMs} ms`);
}

/** Sends one message through an echo path and waits for it back (proves the whole path works). */
export function echoOnce(/** @type {number} */ port, timeoutMs = 10_000) {
  return new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port });
    const t = setTimeout(() => {
      s.destroy();
      reject(new Error(`no echo through port ${port} within ${timeoutMs} ms`));
    }, timeoutMs);
    s.once('connect', () => s.write('ping'));
    s.once('data', () => {
      clearTimeout(t);
      s.destroy();
      resolve(undefined);
    });
    s.once('error', (err) => {
      clearTimeout(t);
      reject(err);
    });
  });
}
