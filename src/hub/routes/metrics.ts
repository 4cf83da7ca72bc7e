import type { FastifyInstance } from 'fastify';
import type { HubMetrics } from '../metrics.js';
import { security } from './auth.js';

/** GET /metrics (keyed): Prometheus text, scoped to the key's workspace. */
export function registerMetricsRoutes(v1: FastifyInstance, metrics: HubMetrics): void {
  v1.get(
    '/metrics',
    { schema: { summary: 'Prometheus metrics of this hub', security } },
    async (req, reply) => {
      const { contentType, body } = await metrics.render(req.workspaceId);
      return reply.type(contentType).send(body);
    },
  );
}
