import type { Logger } from 'pino';
import type { ServiceProtocol } from '../api/service-protocol.js';
import type { ServiceRecord, Store } from './store/index.js';
import type { AgentSession, SessionRegistry } from './registry.js';
import type { TunnelOwner, TunnelPorts } from './tunnel-ports.js';
import type { HubLimits } from './limits.js';
import { ConnectError, ErrorCodes } from '../api/errors.js';
import { newId } from '../util/ids.js';
import type { ServiceView } from '../api/views.js';
import type { ServiceName } from '../api/service-name.js';
import { applyGrants, forgetGrants, loadGrants } from './grants.js';

const plural = (n: number, noun: string): string => `${n} ${noun}${n === 1 ? '' : 's'}`;

/** An exposure as the hub registers it: the CONTROL `expose` request, its name parsed and its protocol filled in. */
export interface ExposeSpec {
  name: ServiceName;
  targetHost: string;
  targetPort: number;
  protocol: ServiceProtocol;
  /** Grantees added before the service goes online (`expose --allow`, src/hub/grants.ts). */
  allow?: string[];
}

/**
 * Service lifecycle at the hub: registering an exposure (with its tunnel port), taking it offline, removing
 * it, and listing a workspace's services with their live status.
 */
export class ServiceManager {
  // Serialises tunnel-port allocation so that two exposes never pick the same free port.
  private allocation: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly store: Store,
    private readonly registry: SessionRegistry,
    private readonly tunnels: TunnelPorts,
    private readonly log: Logger,
    private readonly limits: HubLimits,
  ) {}

  /**
   * Services a closed session served went offline: their tunnel ports close (a port listens only while its
   * service is online, so a port of an agent that is gone, or whose key was revoked, serves nobody).
   */
  async wentOffline(workspaceId: string, names: readonly ServiceName[]): Promise<void> {
    for (const name of names) await this.tunnels.releaseService(workspaceId, name);
  }

  /** Loads what OPENs are decided by (the grants, kept in memory) before the hub takes its first session. */
  async start(): Promise<void> {
    await loadGrants(this.store);
  }

  async list(workspaceId: string): Promise<ServiceView[]> {
    const [services, agents, grants] = await Promise.all([
      this.store.listServices(workspaceId),
      this.store.listAgents(workspaceId),
      this.store.listWorkspaceGrants(workspaceId),
    ]);
    const labels = new Map(agents.map((a) => [a.id, a.label]));
    return services.map((s) => this.view(s, labels.get(s.agentId) ?? '', grants.get(s.id)));
  }

  async get(workspaceId: string, name: ServiceName): Promise<ServiceView | undefined> {
    const service = await this.store.findServiceByName(workspaceId, name);
    if (!service) return undefined;
    const [agent, grants] = await Promise.all([
      this.store.findAgent(workspaceId, service.agentId),
      this.store.listGrants(service.id),
    ]);
    return this.view(service, agent?.label ?? '', grants);
  }

  /** `grants` only when the service has some (the seed shape otherwise). */
  view(s: ServiceRecord, agentLabel: string, grants?: string[]): ServiceView {
    return {
      ...(grants?.length && { grants }),
      id: s.id,
      name: s.name,
      targetPort: s.targetPort,
      tunnelPort: s.tunnelPort,
      status: this.registry.serverOf(s.workspaceId, s.name) ? 'online' : 'offline',
      protocol: s.protocol,
      agentId: s.agentId,
      agentLabel,
      createdAt: s.createdAt,
    };
  }

  /**
   * Registers (or re-registers after a reconnect) a service served by this session. A name held by another
   * agent of the workspace is refused; the same agent may move it between its own sessions (a restart).
   */
  async expose(session: AgentSession, req: ExposeSpec): Promise<ServiceView> {
    const run = this.allocation.then(() => this.exposeNow(session, req));
    this.allocation = run.catch(() => undefined);
    return run;
  }

  private async exposeNow(session: AgentSession, req: ExposeSpec): Promise<ServiceView> {
    const { name } = req;
    let service = await this.store.findServiceByName(session.workspaceId, name);
    if (service && service.agentId !== session.agentId) {
      const owner = await this.store.findAgent(session.workspaceId, service.agentId);
      // An agent registered before agent secrets can never connect again: an admin key's agent (every key from
      // before roles is one) takes its services over, as it could by deleting and exposing them again.
      if (owner && owner.secretHash === null && session.role === 'admin') {
        this.log.info(
          { service: name, from: owner.id, to: session.agentId },
          'service taken over from a secretless agent',
        );
        service = await this.store.updateService(service.id, { agentId: session.agentId });
      }
    }
    if (service && service.agentId !== session.agentId) {
      const owner = await this.store.findAgent(session.workspaceId, service.agentId);
      throw new ConnectError(
        ErrorCodes.CONFLICT,
        `service '${name}' is already exposed by agent ${owner?.label ?? service.agentId}`,
        'Pick another name, or remove it there first.',
      );
    }
    if (service) {
      if (!(await this.tunnels.listen(service.tunnelPort, { workspaceId: session.workspaceId, name }))) {
        const port = await this.allocatePort({ workspaceId: session.workspaceId, name });
        service = await this.store.updateService(service.id, { tunnelPort: port });
      }
      if (
        service.targetHost !== req.targetHost ||
        service.targetPort !== req.targetPort ||
        service.protocol !== req.protocol
      ) {
        service = await this.store.updateService(service.id, {
          targetHost: req.targetHost,
          targetPort: req.targetPort,
          protocol: req.protocol,
        });
      }
    } else {
      await this.checkWorkspaceCaps(session.workspaceId);
      const tunnelPort = await this.allocatePort({ workspaceId: session.workspaceId, name });
      try {
        service = await this.store.insertService({
          id: newId('svc'),
          workspaceId: session.workspaceId,
          agentId: session.agentId,
          name,
          targetHost: req.targetHost,
          targetPort: req.targetPort,
          tunnelPort,
          protocol: req.protocol,
        });
      } catch (err) {
        await this.tunnels.release(tunnelPort);
        throw err;
      }
    }
    // Granted before it goes online, so no OPEN finds it unrestricted.
    const grants = req.allow?.length ? await applyGrants(this.store, service, { add: req.allow }) : undefined;
    this.registry.serve(session, name);
    if (session.mux.closed) {
      // The session closed while this expose ran: its close found nothing to take offline, so do it here.
      this.registry.unserve(session.workspaceId, name, session.id);
      await this.tunnels.releaseService(session.workspaceId, name);
    }
    this.log.info(
      { service: name, agent: session.agentId, tunnelPort: service.tunnelPort },
      'service online',
    );
    return { ...this.view(service, session.agentLabel), ...(grants && { grants }) };
  }

  /**
   * A new service of a workspace must fit its caps: services (servicesPerWorkspace) and tunnel ports
   * (tunnelPortsPerWorkspace, so one tenant cannot take the whole range). Exposes run one at a time (see
   * `allocation`), so the count cannot change between this check and the insert.
   */
  private async checkWorkspaceCaps(workspaceId: string): Promise<void> {
    const services = await this.store.listServices(workspaceId);
    const ports = new Set(services.map((s) => s.tunnelPort)).size;
    const { servicesPerWorkspace, tunnelPortsPerWorkspace } = this.limits;
    if (services.length < servicesPerWorkspace && ports < tunnelPortsPerWorkspace) return;
    const workspace = (await this.store.getWorkspace(workspaceId))?.name ?? workspaceId;
    throw new ConnectError(
      ErrorCodes.LIMIT_REACHED,
      services.length >= servicesPerWorkspace
        ? `workspace '${workspace}' already has ${plural(services.length, 'service')} (the hub's limit is ${servicesPerWorkspace})`
        : `workspace '${workspace}' already holds ${plural(ports, 'tunnel port')} (the hub's limit is ${tunnelPortsPerWorkspace})`,
      'Remove a service first (connect expose stop <name>), or ask the hub operator to raise the limit.',
    );
  }

  private async allocatePort(owner: TunnelOwner): Promise<number> {
    const port = await this.tunnels.allocate(await this.store.usedTunnelPorts(), owner);
    if (port === undefined) {
      throw new ConnectError(ErrorCodes.NO_TUNNEL_PORT, 'the hub has no free tunnel port left in its range');
    }
    return port;
  }

  /** Takes a service offline (the session stops serving it) or removes it entirely. */
  async unexpose(
    workspaceId: string,
    agentId: string | undefined,
    name: ServiceName,
    remove: boolean,
    /** Only stop serving when this session is the one serving (an agent's old session must not win). */
    sessionId?: string,
  ): Promise<boolean> {
    const service = await this.store.findServiceByName(workspaceId, name);
    if (!service) return false;
    if (agentId !== undefined && service.agentId !== agentId) {
      throw new ConnectError(ErrorCodes.CONFLICT, `service '${service.name}' belongs to another agent`);
    }
    this.registry.unserve(workspaceId, service.name, remove ? undefined : sessionId);
    if (!remove && !this.registry.serverOf(workspaceId, service.name)) {
      await this.tunnels.releaseService(workspaceId, service.name);
    }
    if (remove) {
      await this.store.deleteService(workspaceId, service.id);
      forgetGrants(this.store, workspaceId, service.name);
      await this.tunnels.release(service.tunnelPort);
      this.log.info({ service: service.name }, 'service removed');
    }
    return true;
  }
}
