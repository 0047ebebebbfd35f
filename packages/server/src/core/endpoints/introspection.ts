/**
 * Token introspection (RFC 7662) for access and refresh tokens. Only clients registered for it
 * (`introspection`, resource servers) may call it, never a public client, and a caller learns
 * about a token only if it concerns the caller: issued to it, or (an access token) with an
 * audience that names its client id. Every other token, like an unknown one, is
 * `{"active": false}` (RFC 7662 section 4: the endpoint must not be a token oracle).
 *
 * | caller                                              | answer                               |
 * | --------------------------------------------------- | ------------------------------------ |
 * | no or failed client authentication, public client   | 401 `invalid_client`                 |
 * | authenticated, not registered for introspection     | 403 `unauthorized_client`            |
 * | registered; token issued to it, or `aud` names it    | 200 `active: true` with its claims   |
 * | registered; any other token                          | 200 `{"active": false}`              |
 */
import type { ServerContext } from '../context.ts';
import { authenticateRequest } from '../auth/request-auth.ts';
import { OAuthError } from '../errors.ts';
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
  const { client, method } = await authenticateRequest(ctx, request, params, ctx.endpoints.introspection);
  if (method === 'none') {
    // A public client proves nothing about who calls (RFC 7662 section 4).
    throw new OAuthError('invalid_client', 'Client authentication failed.', {
      status: 401,
      detail: `public client ${client.clientId} called the introspection endpoint`,
    });
  }
  if (!client.introspection) {
    throw new OAuthError('unauthorized_client', 'This client is not allowed to introspect tokens.', {
      status: 403,
      detail: `client ${client.clientId} is not registered for introspection`,
    });
  }
  const token = requireParam(params, 'token');
  const found = await lookupToken(ctx, token, params.get('token_type_hint'));
  const now = ctx.now();
  const inactive = jsonResponse(200, { active: false });
  if (!found) return inactive;

  if (found.kind === 'refresh_token') {
    const { grant, token: record } = found.snapshot;
    const live = grantIsLive(grant, now) && record.state === 'active' && record.expiresAt > now;
    // A refresh token has no audience: only the client it was issued to learns about it.
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

  // RFC 7662 section 4: only to whom the token concerns: the client it was issued to, or a resource it is for.
  if (found.clientId !== client.clientId && !found.audience.includes(client.clientId)) return inactive;
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
