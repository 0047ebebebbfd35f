import { customFetch, endpoint, internal, type Configuration } from './configuration.ts';
import type { DPoPHandle } from './dpop.ts';
import { InvalidResponseError, type OAuthResponseError } from './errors.ts';
import { send } from './http.ts';
import {
  parseRefreshResponse,
  prepare,
  withHelpers,
  type IDTokenClaims,
  type RefreshParameters,
  type TokenResponse,
} from './refresh-request.ts';

/** Options of {@link refreshTokenGrant} (openid-client's `DPoPOptions`, plus two of ours). */
export interface RefreshTokenGrantOptions {
  /**
   * Sender-constrains the request with DPoP (RFC 9449): a proof by this handle's key rides on the
   * request, the server's nonce is remembered, and one `use_dpop_nonce` answer is retried with it.
   * Make it with {@link getDPoPHandle} (openid-client's handles fit too).
   */
  DPoP?: DPoPHandle;
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
 * // Sender-constrained (RFC 9449):
 * const bound = await refreshTokenGrant(config, refreshToken, undefined, { DPoP: getDPoPHandle(config, keyPair) })
 */
export async function refreshTokenGrant(
  config: Configuration,
  refreshToken: string,
  parameters?: RefreshParameters,
  options?: RefreshTokenGrantOptions,
): Promise<TokenResponse> {
  const DPoP = options?.DPoP;
  let response;
  let result;
  for (let retried = !DPoP; ; retried = true) {
    // Built afresh for a retry: a client assertion is single use. A DPoP handle gets a Headers, and
    // a copy of the kept token endpoint URL.
    const [kept, body, headers, pending] = prepare(config, refreshToken, parameters, !DPoP);
    const url = DPoP ? new URL(kept) : kept;
    if (pending) await pending;
    if (DPoP) await DPoP.addProof(url, headers as Headers, 'POST');
    response = await send(config, url, 'POST', headers, body.toString(), options?.signal);
    DPoP?.cacheNonce(response, url);
    result = parseRefreshResponse(response, response.receivedAt);
    // RFC 9449 section 8: a server asking for a nonce gets one more request, with it.
    if (result.ok || retried || (result.error as OAuthResponseError).error !== 'use_dpop_nonce') break;
  }
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
  const deps = { fetcher: (c: Configuration) => c[customFetch], endpoint, internal, InvalidResponseError };
  return (await import('./id-token.ts')).validateIdToken(config, idToken, original, body, deps);
}
