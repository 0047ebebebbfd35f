/**
 * Builds the successful token response (RFC 6749 section 5.1) shared by every grant that
 * issues tokens: a new access token, an id_token when `openid` is in scope (OIDC Core section
 * 12.2), and the refresh token the grant decided on. Wire names are produced here only.
 */
import type { ServerContext } from '../context.ts';
import type { ClientRecord, GrantRecord } from '../types.ts';
import { parseScope } from '../scope.ts';
import { issueAccessToken } from './access-token.ts';
import { issueIdToken } from './id-token.ts';

/** The section 5.1 response body, in wire names. */
export interface TokenResponse {
  access_token: string;
  token_type: 'Bearer' | 'DPoP';
  expires_in: number;
  scope: string;
  refresh_token?: string;
  /**
   * draft-ietf-oauth-refresh-token-expiration: seconds the refresh token may be held without
   * being exchanged (its idle expiry, never past the authorization's).
   */
  refresh_token_timeout?: number;
  /** draft-ietf-oauth-refresh-token-expiration: seconds until the authorization (the grant) expires. */
  authorization_expires_in?: number;
  id_token?: string;
}

/** Inputs of {@link buildTokenResponse}. */
export interface TokenResponseInput {
  client: ClientRecord;
  grant: GrantRecord;
  /** The access token's scope (the grant's, or a narrowed subset). */
  scope: string;
  audience: string[];
  /** Omitted when no refresh token is issued (an `openid` grant without `offline_access`). */
  refreshToken?: string;
  /** When that refresh token expires if unused (its idle expiry), seconds since the epoch. */
  refreshTokenExpiresAt?: number;
  dpopJkt?: string;
  /** The authorization request's nonce, for the id_token of a code exchange. */
  nonce?: string;
  now: number;
}

/** Issues the access token (and id_token) and assembles the response body. */
export async function buildTokenResponse(ctx: ServerContext, input: TokenResponseInput): Promise<TokenResponse> {
  const { client, grant, scope, now } = input;
  const at = await issueAccessToken(
    { issuer: ctx.issuer, client, grant, scope, audience: input.audience, jkt: input.dpopJkt, now },
    { keys: ctx.keys, store: ctx.store },
  );
  const response: TokenResponse = {
    access_token: at.accessToken,
    token_type: at.tokenType,
    expires_in: at.expiresIn,
    // The response always carries scope, even when it equals the requested one.
    scope,
  };
  if (input.refreshToken !== undefined) {
    response.refresh_token = input.refreshToken;
    // draft-ietf-oauth-refresh-token-expiration section 5.1: finite lifetimes MUST be returned
    // whenever the response contains refresh_token; the timeout never exceeds the authorization.
    const authorization = grant.expiresAt - now;
    response.refresh_token_timeout = Math.min((input.refreshTokenExpiresAt ?? grant.expiresAt) - now, authorization);
    response.authorization_expires_in = authorization;
  }
  if (parseScope(scope).includes('openid')) {
    response.id_token = await issueIdToken({ issuer: ctx.issuer, client, grant, now, accessToken: at.accessToken, nonce: input.nonce }, ctx.keys);
  }
  return response;
}
