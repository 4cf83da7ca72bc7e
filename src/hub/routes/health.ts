import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { Store } from '../store/index.js';
import { HealthViewSchema } from '../../api/views.js';
import { VERSION } from '../../version.js';

/** GET /health: public, for load balancers and `connect doctor`. */
export function registerHealthRoutes(
  app: FastifyInstance,
  store: Store,
  storeKind: 'sqlite' | 'postgres',
): void {
  app.withTypeProvider<TypeBoxTypeProvider>().get(
    '/health',
    {
      schema: {
        summary: 'Liveness and store reachability (no key needed)',
        response: { '2xx': HealthViewSchema, 503: HealthViewSchema },
      },
    },
    async (_req, reply) => {
      const reachable = await store.ping();
      return reply.code(reachable ? 200 : 503).send({
        status: reachable ? 'ok' : 'degraded',
        version: VERSION,
        store: { kind: storeKind, reachable },
      });
    },
  );
}
