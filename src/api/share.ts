import { Type, type Static } from '@sinclair/typebox';

/**
 * Expiring shares: a one-time token that lets a machine with no other credentials reach ONE service until the
 * share expires or is revoked. The token carries the hub's URL, so a token pasted into chat is enough:
 *
 *   pcs_<hub URL, base64url>.<share id>.<secret>
 *
 * The hub keeps only the sha256 of the secret; the token is shown once, when the share is created.
 */
export const SHARE_TOKEN_PREFIX = 'pcs_';

/** The longest a share may live (`--expires`): a share is for a session of work, not a standing credential. */
export const MAX_SHARE_LIFETIME_MS = 7 * 24 * 3600_000;
/** `connect share` without `--expires`. */
export const DEFAULT_SHARE_LIFETIME_MS = 3600_000;
/** `--to`: who the share is for, a free label shown by `share list`. */
export const MAX_SHARE_TO_LENGTH = 64;

const TOKEN_PATTERN = /^pcs_([A-Za-z0-9_-]{1,2048})\.(shr_[a-f0-9]{16})\.([A-Za-z0-9_-]{43})$/;

export interface ParsedShareToken {
  hubUrl: string;
  id: string;
  secret: string;
}

export function formatShareToken(hubUrl: string, id: string, secret: string): string {
  return `${SHARE_TOKEN_PREFIX}${Buffer.from(hubUrl, 'utf8').toString('base64url')}.${id}.${secret}`;
}

export function looksLikeShareToken(text: string): boolean {
  return text.startsWith(SHARE_TOKEN_PREFIX);
}

/** The token's parts; undefined when it is not a well-formed share token. */
export function parseShareToken(text: string): ParsedShareToken | undefined {
  const match = TOKEN_PATTERN.exec(text.trim());
  if (!match?.[1] || !match[2] || !match[3]) return undefined;
  const hubUrl = Buffer.from(match[1], 'base64url').toString('utf8');
  if (!/^https?:\/\/[^\s]+$/.test(hubUrl)) return undefined;
  return { hubUrl, id: match[2], secret: match[3] };
}

export const CreateShareBodySchema = Type.Object(
  {
    service: Type.String({ minLength: 1, maxLength: 128 }),
    expiresInMs: Type.Integer({ minimum: 1000, maximum: MAX_SHARE_LIFETIME_MS }),
    to: Type.Optional(Type.String({ minLength: 1, maxLength: MAX_SHARE_TO_LENGTH })),
  },
  { additionalProperties: false },
);
export type CreateShareBody = Static<typeof CreateShareBodySchema>;

export const ShareViewSchema = Type.Object({
  id: Type.String(),
  service: Type.String(),
  to: Type.Union([Type.String(), Type.Null()]),
  createdAt: Type.String(),
  expiresAt: Type.String(),
  state: Type.Union([Type.Literal('active'), Type.Literal('expired'), Type.Literal('revoked')]),
});
export type ShareView = Static<typeof ShareViewSchema>;

/** The hub's answer to a new share: the secret is in it this once (the client adds the hub URL to make the token). */
export const CreatedShareViewSchema = Type.Intersect([
  ShareViewSchema,
  Type.Object({ secret: Type.String() }),
]);
export type CreatedShareView = Static<typeof CreatedShareViewSchema>;

export const ShareParamsSchema = Type.Object({ id: Type.String({ maxLength: 64 }) });
