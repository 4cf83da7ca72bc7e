import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { ShareRecord, Store } from '../store/index.js';
import type { ApiKeyRecord } from '../store/index.js';
import { sendError } from '../http-errors.js';
import { ConnectError, ErrorCodes } from '../../api/errors.js';
import { parseServiceName } from '../../api/service-name.js';
import {
  CreateShareBodySchema,
  CreatedShareViewSchema,
  ShareParamsSchema,
  ShareViewSchema,
} from '../../api/share.js';
import { authErrors, security } from './auth.js';
import { forbidden, requireReach, roleKey } from '../access.js';
import { generateShare, shareView } from '../shares.js';

/**
 * Who may share: an admin or agent key, for a service of its workspace that it may reach itself (a share never
 * grants more than its creator holds). `reach` keys may not share. An admin key sees and revokes every share of
 * the workspace; an agent key the shares it created.
 */
function requireSharer(key: ApiKeyRecord): void {
  if (key.role === 'reach') throw forbidden(`${roleKey(key.role)} may not share services`);
}

const visibleTo = (key: ApiKeyRecord, share: ShareRecord): boolean =>
  key.role === 'admin' || share.createdByKey === key.id;

/** /v1/shares (keyed): create, list and revoke the expiring shares of the key's workspace. */
export function registerShareRoutes(v1: FastifyInstance, store: Store): void {
  const app = v1.withTypeProvider<TypeBoxTypeProvider>();

  app.post(
    '/v1/shares',
    {
      schema: {
        summary: 'Share one service until an expiry (the secret is in this reply only)',
        security,
        body: CreateShareBodySchema,
        response: { 201: CreatedShareViewSchema, ...authErrors },
      },
    },
    async (req, reply) => {
      requireSharer(req.apiKey);
      const name = parseServiceName(req.body.service);
      requireReach(req.apiKey, name);
      if (!(await store.findServiceByName(req.workspaceId, name)))
        return sendError(reply, ErrorCodes.NOT_FOUND, `no service named '${name}' in this workspace`);
      const to = req.body.to?.trim();
      if (to !== undefined && !/^[\x20-\x7e]+$/.test(to))
        throw new ConnectError(ErrorCodes.BAD_INPUT, '--to must be printable ASCII text');
      const { id, secret, hash } = generateShare();
      const share = await store.createShare({
        id,
        workspaceId: req.workspaceId,
        serviceName: name,
        createdByKey: req.apiKey.id,
        to: to || null,
        hash,
        expiresAt: new Date(Date.now() + req.body.expiresInMs).toISOString(),
      });
      req.log.info({ share: id, service: name, key: req.apiKey.id }, 'share created');
      return reply.code(201).send({ ...shareView(share), secret });
    },
  );

  app.get(
    '/v1/shares',
    {
      schema: {
        summary: 'Shares of the workspace (an agent key: the ones it created)',
        security,
        response: { 200: Type.Array(ShareViewSchema), ...authErrors },
      },
    },
    async (req) => {
      requireSharer(req.apiKey);
      return (await store.listShares(req.workspaceId)).filter((s) => visibleTo(req.apiKey, s)).map(shareView);
    },
  );

  app.delete(
    '/v1/shares/:id',
    {
      schema: {
        summary: 'Revoke a share: new reaches fail, its live streams end within seconds',
        security,
        params: ShareParamsSchema,
        response: { 204: Type.Null(), ...authErrors },
      },
    },
    async (req, reply) => {
      requireSharer(req.apiKey);
      const share = await store.findShare(req.params.id);
      if (!share || share.workspaceId !== req.workspaceId)
        return sendError(reply, ErrorCodes.NOT_FOUND, `no share '${req.params.id}' in this workspace`);
      if (!visibleTo(req.apiKey, share))
        throw forbidden(`${roleKey(req.apiKey.role)} may revoke only the shares it created`);
      if (!(await store.revokeShare(req.workspaceId, share.id)))
        throw new ConnectError(ErrorCodes.CONFLICT, `share ${share.id} is already revoked`);
      req.log.info({ share: share.id, key: req.apiKey.id }, 'share revoked');
      return reply.code(204).send(null);
    },
  );
}
