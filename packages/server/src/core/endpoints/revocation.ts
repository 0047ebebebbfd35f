/**
 * Token revocation (RFC 7009). Revoking a refresh token revokes its whole family; revoking
 * an access token marks it revoked so that introspection reports it inactive.
 */
import type { ServerContext } from '../context.ts';
import { authenticateRequest } from '../auth/request-auth.ts';
import { OAuthError } from '../errors.ts';
import { parseForm, requireParam } from '../form.ts';
import type { CoreRequest, CoreResponse } from '../http-types.ts';
import { lookupToken } from '../tokens/token-lookup.ts';

const hints = new Set(['refresh_token', 'access_token']);

/**
 * Handles a POST to the revocation endpoint.
 *
 * @example
 * ```ts
 * await revocationEndpoint(ctx, request) // 200 with an empty body, even for unknown tokens
 * ```
 */
export async function revocationEndpoint(ctx: ServerContext, request: CoreRequest): Promise<CoreResponse> {
  const params = parseForm(request);
  // RFC 7009 section 2.1: the client also authenticates with the revocation endpoint.
  const { client } = await authenticateRequest(ctx, request, params, ctx.endpoints.revocation);
  const token = requireParam(params, 'token');
  const hint = params.get('token_type_hint');
  // RFC 7009 section 2.2.1: unsupported_token_type for a type the server cannot revoke.
  if (hint !== null && !hints.has(hint)) {
    throw new OAuthError('unsupported_token_type', 'The token type hint is not supported.', { detail: hint });
  }
  const found = await lookupToken(ctx, token, hint);
  const now = ctx.now();
  // RFC 7009 section 2.1: tokens of other clients are not revoked, and the answer does not
  // reveal whether the token existed (section 2.2: invalid tokens also get 200).
  if (found?.kind === 'refresh_token' && found.snapshot.grant.clientId === client.clientId) {
    const { grant, token: record } = found.snapshot;
    if (await ctx.store.revokeGrant(grant.familyId, 'revocation', now)) {
      ctx.emit({ type: 'grant.revoked', at: now, clientId: client.clientId, familyId: grant.familyId, generation: record.generation, reason: 'revocation' });
    }
  } else if (found?.kind === 'access_token' && found.clientId === client.clientId) {
    await ctx.store.revokeAccessToken(found.jti, found.expiresAt);
    ctx.emit({ type: 'access_token.revoked', at: now, clientId: client.clientId, familyId: found.familyId, reason: 'revocation' });
  }
  return { status: 200, headers: { 'cache-control': 'no-store' }, body: '' };
}
