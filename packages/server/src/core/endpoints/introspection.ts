/**
 * Token introspection (RFC 7662) for access and refresh tokens. Callers authenticate as
 * registered clients (resource servers register as clients). A refresh token is reported
 * active only to the client it belongs to.
 */
import type { ServerContext } from '../context.ts';
import { authenticateRequest } from '../auth/request-auth.ts';
import { parseForm, requireParam } from '../form.ts';
import { jsonResponse, type CoreRequest, type CoreResponse } from '../http-types.ts';
import { grantIsLive, lookupToken } from '../tokens/token-lookup.ts';

/**
 * Handles a POST to the introspection endpoint.
 *
 * @example
 * ```ts
 * const res = await introspectionEndpoint(ctx, request) // { active: true, scope, client_id, ... }
 * ```
 */
export async function introspectionEndpoint(ctx: ServerContext, request: CoreRequest): Promise<CoreResponse> {
  const params = parseForm(request);
  // RFC 7662 section 2.1: the endpoint MUST require some form of authorization.
  const { client } = await authenticateRequest(ctx, request, params, ctx.endpoints.introspection);
  const token = requireParam(params, 'token');
  const found = await lookupToken(ctx, token, params.get('token_type_hint'));
  const now = ctx.now();
  const inactive = jsonResponse(200, { active: false });
  if (!found) return inactive;

  if (found.kind === 'refresh_token') {
    const { grant, token: record } = found.snapshot;
    const live = grantIsLive(grant, now) && record.state === 'active' && record.expiresAt > now;
    if (!live || grant.clientId !== client.clientId) return inactive;
    return jsonResponse(200, {
      active: true,
      token_type: 'refresh_token',
      client_id: grant.clientId,
      sub: grant.subject,
      scope: grant.scope,
      iss: ctx.issuer,
      iat: record.createdAt,
      exp: record.expiresAt,
      sid: grant.familyId,
      // draft-ietf-oauth-refresh-token-expiration: the same lifetimes as in a token response.
      // Introspection only reads: the idle clock is not reset.
      refresh_token_timeout: Math.min(record.expiresAt, grant.expiresAt) - now,
      authorization_expires_in: grant.expiresAt - now,
      ...(grant.dpopJkt ? { cnf: { jkt: grant.dpopJkt } } : {}),
    });
  }

  if (found.expiresAt <= now || (await ctx.store.isAccessTokenRevoked(found.jti))) return inactive;
  // Revoking a family makes its access tokens inactive too.
  if (!grantIsLive(await ctx.store.getGrant(found.familyId), now)) return inactive;
  return jsonResponse(200, {
    active: true,
    token_type: found.jkt ? 'DPoP' : 'Bearer',
    client_id: found.clientId,
    sub: found.subject,
    scope: found.scope,
    aud: found.audience.length === 1 ? found.audience[0] : found.audience,
    iss: ctx.issuer,
    jti: found.jti,
    iat: found.issuedAt,
    exp: found.expiresAt,
    sid: found.familyId,
    ...(found.jkt ? { cnf: { jkt: found.jkt } } : {}),
  });
}
