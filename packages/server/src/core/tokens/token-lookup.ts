/**
 * Finds what a presented token is (refresh token, opaque access token, JWT access token) for
 * revocation (RFC 7009) and introspection (RFC 7662). Tokens of every kind are looked up by
 * hash or verified by signature; none is stored in plaintext.
 */
import type { ServerContext } from '../context.ts';
import { accessTokenKey, refreshTokenKey, tokenPrefixes } from '../crypto.ts';
import type { RefreshSnapshot } from '../store.ts';
import type { GrantRecord, OpaqueAccessTokenRecord } from '../types.ts';

/** A token we recognise. */
export type KnownToken =
  | { kind: 'refresh_token'; snapshot: RefreshSnapshot }
  | ({ kind: 'access_token' } & Omit<OpaqueAccessTokenRecord, 'tokenHash'>);

/** Looks the token up; `hint` only orders the search (RFC 7009 section 2.1). */
export async function lookupToken(ctx: ServerContext, token: string, hint: string | null): Promise<KnownToken | undefined> {
  const order = hint === 'access_token' ? [findAccessToken, findRefreshToken] : [findRefreshToken, findAccessToken];
  for (const find of order) {
    const found = await find(ctx, token);
    if (found) return found;
  }
  return undefined;
}

async function findRefreshToken(ctx: ServerContext, token: string): Promise<KnownToken | undefined> {
  if (!token.startsWith(tokenPrefixes.refreshToken)) return undefined;
  const snapshot = await ctx.store.findRefreshToken(refreshTokenKey(token));
  return snapshot ? { kind: 'refresh_token', snapshot } : undefined;
}

async function findAccessToken(ctx: ServerContext, token: string): Promise<KnownToken | undefined> {
  if (token.startsWith(tokenPrefixes.accessToken)) {
    const record = await ctx.store.findOpaqueAccessToken(accessTokenKey(token));
    if (!record) return undefined;
    return {
      kind: 'access_token',
      jti: record.jti,
      clientId: record.clientId,
      subject: record.subject,
      scope: record.scope,
      audience: record.audience,
      issuedAt: record.issuedAt,
      expiresAt: record.expiresAt,
      familyId: record.familyId,
      jkt: record.jkt,
    };
  }
  if (token.split('.').length !== 3) return undefined;
  const claims = await ctx.keys.verify(token, 'at+jwt');
  if (!claims) return undefined;
  const aud = claims.aud;
  return {
    kind: 'access_token',
    jti: String(claims.jti),
    clientId: String(claims.client_id),
    subject: String(claims.sub),
    scope: String(claims.scope ?? ''),
    audience: Array.isArray(aud) ? aud.map(String) : [String(aud)],
    issuedAt: Number(claims.iat),
    expiresAt: Number(claims.exp),
    familyId: String(claims.sid),
    jkt: (claims.cnf as { jkt?: string } | undefined)?.jkt,
  };
}

/** True when the grant behind a token still stands. */
export function grantIsLive(grant: GrantRecord | undefined, now: number): grant is GrantRecord {
  return grant !== undefined && grant.revokedAt === undefined && grant.expiresAt > now;
}
