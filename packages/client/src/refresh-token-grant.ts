import type { Configuration } from './configuration.ts';
import { send } from './http.ts';
import {
  buildRefreshRequest,
  parseRefreshResponse,
  withHelpers,
  type IDTokenClaims,
  type RefreshParameters,
  type TokenResponse,
} from './refresh-request.ts';

/**
 * Options of {@link refreshTokenGrant}. (openid-client's 4th argument is its `DPoPOptions`; a
 * `DPoP` member will join these.)
 */
export interface RefreshTokenGrantOptions {
  /** Aborts the request; the abort reason is rethrown as is. */
  signal?: AbortSignal;
  /**
   * The id_token from the original authentication (compact JWT, or its claims). An id_token in the
   * refresh response is then checked against it per OIDC Core section 12.2.
   */
  idToken?: string | IDTokenClaims;
}

/**
 * Performs the refresh token grant (RFC 6749 section 6). Same signature and meaning as
 * openid-client v6's `refreshTokenGrant`. Throws an `OAuthResponseError`, `InvalidResponseError`
 * or `TransportError` (each with `retryable`); a `TypeError` on misuse. An id_token in the response
 * is validated (signature against the server's JWKS, claims, and OIDC Core section 12.2 against
 * `options.idToken`) before anything is returned.
 *
 * @example
 * const tokens = await refreshTokenGrant(config, refreshToken, { scope: 'read', resource: ['https://api.example'] })
 * tokens.access_token; tokens.expiresIn(); tokens.refresh_token ?? refreshToken
 */
export async function refreshTokenGrant(
  config: Configuration,
  refreshToken: string,
  parameters?: RefreshParameters,
  options?: RefreshTokenGrantOptions,
): Promise<TokenResponse> {
  const { method, url, headers, body } = await buildRefreshRequest(config, refreshToken, parameters);
  const response = await send(config, url, method, headers, body.toString(), options?.signal);
  const result = parseRefreshResponse(response, response.receivedAt);
  if (!result.ok) throw result.error;
  const { tokens } = result;
  if (!tokens.id_token) return tokens;
  const claims = await validateIdToken(config, tokens.id_token, options?.idToken, { ...tokens });
  return withHelpers({ ...tokens }, response.receivedAt, claims);
}

/**
 * Validates an id_token from a token response: signature against the server's JWKS (fetched from
 * `jwks_uri`, cached per Configuration), `iss`, `aud`, `azp`, `exp`, a fresh `iat`, and, given the
 * original id_token, OIDC Core section 12.2 (same `iss`, `sub`, `aud`, `azp`, `auth_time`, `nonce`).
 * Throws an InvalidResponseError carrying `body`. {@link refreshTokenGrant} calls it for you; use it
 * with the transport-free {@link parseRefreshResponse}.
 *
 * @example
 * const claims = await validateIdToken(config, tokens.id_token, originalIdToken)
 */
export async function validateIdToken(
  config: Configuration,
  idToken: string,
  original?: string | IDTokenClaims,
  body?: Record<string, unknown>,
): Promise<IDTokenClaims> {
  // Loaded only when an id_token arrives, so the bare refresh path does not carry jose.
  return (await import('./id-token.ts')).validateIdToken(config, idToken, original, body);
}
