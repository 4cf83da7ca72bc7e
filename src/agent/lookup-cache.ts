/**
 * A short-lived cache in front of dns.lookup for the exposer's dials. A stream through the tunnel dials its target
 * once per connection, and the target is usually a name (`localhost` by default): resolving it each time cost
 * 0.15–0.2 ms at the median and up to 3 ms at p99 here (getaddrinfo runs on libuv's thread pool), a large part of
 * a new connection's time. Results come from dns.lookup itself (so /etc/hosts and nsswitch keep their meaning) and
 * are kept for a few seconds; failures are never cached.
 */
import { lookup, type LookupAddress, type LookupAllOptions, type LookupOptions } from 'node:dns';
import type { LookupFunction } from 'node:net';

const TTL_MS = 10_000;
/** Names kept at most; a full cache is cleared (targets are few: one per exposure). */
const MAX_ENTRIES = 256;

const cache = new Map<string, { expires: number; addresses: LookupAddress[] }>();

type Callback = (
  err: NodeJS.ErrnoException | null,
  address: string | LookupAddress[],
  family?: number,
) => void;

/** Same contract as dns.lookup (what net.connect's `lookup` option expects), answered from the cache when fresh. */
export const cachedLookup = ((hostname: string, options: LookupOptions, callback: Callback): void => {
  const family = typeof options.family === 'number' ? options.family : 0;
  const key = `${family}|${options.hints ?? 0}|${hostname}`;
  const answer = (addresses: LookupAddress[]): void => {
    if (options.all) callback(null, addresses);
    else callback(null, addresses[0]!.address, addresses[0]!.family);
  };
  const hit = cache.get(key);
  if (hit && hit.expires > Date.now()) {
    process.nextTick(answer, hit.addresses);
    return;
  }
  const all: LookupAllOptions = { ...options, family, all: true };
  lookup(hostname, all, (err, addresses) => {
    if (err || addresses.length === 0) {
      const failure = err ?? Object.assign(new Error(`no address for ${hostname}`), { code: 'ENOTFOUND' });
      if (options.all) callback(failure, []);
      else callback(failure, '', undefined);
      return;
    }
    if (cache.size >= MAX_ENTRIES) cache.clear();
    cache.set(key, { expires: Date.now() + TTL_MS, addresses });
    answer(addresses);
  });
}) as LookupFunction;
