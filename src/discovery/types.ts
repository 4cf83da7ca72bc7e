/** The kinds of service discovery can name. `tcp` means "open, but it answered nothing we know". */
export type ServiceType =
  | 'http'
  | 'https'
  | 'tls'
  | 'postgres'
  | 'redis'
  | 'mysql'
  | 'mongodb'
  | 'ssh'
  | 'amqp'
  | 'mqtt'
  | 'nats'
  | 'memcached'
  | 'tcp';

/** One service found by `connect discover`; this is also the `--json` shape. */
export interface DiscoveredService {
  /** The host as the user named it (`localhost` covers both 127.0.0.1 and ::1). */
  host: string;
  port: number;
  type: ServiceType;
  /** A suggested service name for `connect expose`, unique per port. */
  name: string;
  /** Human details: product and version, page title, server header... Empty when there is nothing to say. */
  details: string;
}

/** What a probe concluded about a port. */
export interface Identification {
  type: ServiceType;
  details: string;
  /** An HTML page title, from which the service name is derived. */
  title?: string;
  /**
   * A weak match (e.g. an HTTP 400 that may be a TLS port complaining about plaintext): kept only if no other
   * probe gives a firmer answer.
   */
  tentative?: boolean;
}

/** Where to dial: a literal address (never a name, so that every probe hits the same machine). */
export interface Target {
  address: string;
  port: number;
  /** The name the user gave, for the HTTP Host header and TLS SNI. */
  hostname: string;
}

/** Milliseconds on a monotonic clock; deadlines are absolute values of this clock. */
export const now = (): number => performance.now();
