import { connect as tcpConnect } from 'node:net';
import type { OpenRequest } from '../protocol/session.js';
import { ResetCode } from '../protocol/frames.js';
import { bridgeSocket } from '../protocol/socket-bridge.js';
import type { HubConnection } from './hub-connection.js';
import type { AgentEvent, AgentEventSink } from './agent-events.js';
import type { Exposure } from '../config/exposures.js';
import type { ServiceView } from '../api/views.js';
import { messageOf } from '../api/errors.js';
import { cachedLookup } from './lookup-cache.js';
import { isServiceName, parseServiceName, type ServiceName } from '../api/service-name.js';

/**
 * Serves this agent's exposed services: registers each with the hub (again after every reconnect) and,
 * for each stream the hub opens, dials the service's own target. The target comes from the local
 * exposure, never from the stream's metadata, so the hub cannot make an agent dial an arbitrary host.
 */
export class Exposer {
  private readonly exposures = new Map<ServiceName, Exposure>();

  constructor(
    private readonly conn: HubConnection,
    private readonly events: AgentEventSink,
  ) {
    conn.on('connected', () => void this.registerAll());
  }

  /** Handler for the connection's `onOpen`. */
  readonly handleOpen = (req: OpenRequest): void => {
    const name = typeof req.meta.service === 'string' ? req.meta.service : '';
    // The hub sends names as it stores them (parsed); anything else is no service of ours.
    const exposure = isServiceName(name) ? this.exposures.get(name) : undefined;
    if (!exposure) {
      req.reject(ResetCode.NO_SERVICE, `this agent does not expose '${name}'`);
      return;
    }
    const stream = req.accept();
    const target = `${exposure.targetHost}:${exposure.targetPort}`;
    const socket = tcpConnect({
      host: exposure.targetHost,
      port: exposure.targetPort,
      allowHalfOpen: true,
      noDelay: true,
      lookup: cachedLookup,
    });
    // The daemon seed's log lines: one pair per connection, so an operator sees who dialled what. Logged once
    // the dial is under way, so that the log write is not on the new connection's critical path.
    this.events({ type: 'dialing', target, streamId: req.streamId });
    // Bytes that arrive before the target accepts are buffered by the socket (bounded by the stream window).
    bridgeSocket(stream, socket);
    socket.once('connect', () => {
      // After this 'connect' event's other listeners, one of which writes the bytes buffered while dialling:
      // those go to the target first, the (informational) ACCEPT and the log line right after.
      queueMicrotask(() => {
        stream.accept();
        this.events({ type: 'target-connected', target });
      });
    });
    socket.once('error', (err) =>
      this.events({ type: 'target-unreachable', name, target, reason: messageOf(err) }),
    );
  };

  list(): Exposure[] {
    return [...this.exposures.values()];
  }

  /** Adds an exposure and registers it now if connected (errors propagate), else on the next connect. */
  async add(exposure: Exposure): Promise<ServiceView | undefined> {
    const name = parseServiceName(exposure.name);
    this.exposures.set(name, exposure);
    if (!this.conn.session) return undefined;
    try {
      return await this.register(exposure);
    } catch (err) {
      this.exposures.delete(name);
      throw err;
    }
  }

  /** Stops serving; `remove` also deletes the service at the hub (frees its tunnel port). */
  async remove(name: string, remove: boolean): Promise<void> {
    this.exposures.delete(parseServiceName(name));
    if (this.conn.session) await this.conn.request({ op: 'unexpose', name, remove }).catch(() => undefined);
  }

  private async register(exposure: Exposure): Promise<ServiceView> {
    const reply = await this.conn.request({
      op: 'expose',
      name: exposure.name,
      targetHost: exposure.targetHost,
      targetPort: exposure.targetPort,
      protocol: exposure.protocol,
      ...(exposure.allow?.length && { allow: exposure.allow }),
    });
    return reply.service as ServiceView;
  }

  private async registerAll(): Promise<void> {
    for (const exposure of this.exposures.values()) {
      try {
        const view = await this.register(exposure);
        this.events(exposedEvent(view, exposure));
      } catch (err) {
        this.events({ type: 'expose-failed', name: exposure.name, reason: messageOf(err) });
      }
    }
  }
}

/** The `exposed` event of a service the hub registered for this exposure. */
export function exposedEvent(view: ServiceView, exposure: Exposure): AgentEvent {
  return {
    type: 'exposed',
    name: parseServiceName(view.name),
    target: `${exposure.targetHost}:${exposure.targetPort}`,
    tunnelPort: view.tunnelPort,
  };
}
