/**
 * @refresh-grant/client: the OAuth 2.0 refresh token grant (RFC 6749 section 6) for any server,
 * with openid-client-compatible names, and a token manager that never loses a rotated token.
 * Web-standard globals plus jose only; the Node file store is `@refresh-grant/client/file-store`.
 *
 * @example
 * ```ts
 * import { discovery, refreshTokenGrant } from '@refresh-grant/client'
 * const config = await discovery(new URL('https://auth.example.com'), 'my-client', 's3cret')
 * const tokens = await refreshTokenGrant(config, refreshToken)
 * // DPoP-bound (RFC 9449): const tokens = await refreshTokenGrant(config, refreshToken, undefined, { DPoP: getDPoPHandle(config, keyPair) })
 *
 * // The first tokens, from an authorization code flow with PKCE:
 * const codeVerifier = randomPKCECodeVerifier(), state = randomState()
 * const url = buildAuthorizationUrl(config, { redirect_uri, scope: 'openid offline_access', state,
 *   code_challenge: await calculatePKCECodeChallenge(codeVerifier), code_challenge_method: 'S256' })
 * // ...the user comes back to redirect_uri...
 * const first = await authorizationCodeGrant(config, currentUrl, { pkceCodeVerifier: codeVerifier, expectedState: state })
 * ```
 *
 * @packageDocumentation
 * @module @refresh-grant/client
 */
export { Configuration, allowInsecureRequests, customFetch } from './configuration.ts';
export type { ClientMetadata, CustomFetch, CustomFetchOptions, ServerMetadata } from './configuration.ts';
export { discovery } from './discovery.ts';
export type { DiscoveryRequestOptions } from './discovery.ts';
export { ClientSecretBasic, ClientSecretPost, None } from './client-auth.ts';
export type { ClientAuth, ClientSecretBasicOptions } from './client-auth.ts';
export { ClientSecretJwt, PrivateKeyJwt } from './client-assertion.ts';
export type { ClientAssertionOptions, PrivateKey } from './client-assertion.ts';
export { refreshTokenGrant, validateIdToken } from './refresh-token-grant.ts';
export type { RefreshTokenGrantOptions } from './refresh-token-grant.ts';
export { buildRefreshRequest, parseRefreshResponse } from './refresh-request.ts';
export type {
  IDTokenClaims,
  RefreshParameters,
  RefreshRequest,
  RefreshResult,
  TokenEndpointResponse,
  TokenEndpointResponseHelpers,
  TokenResponse,
} from './refresh-request.ts';
export type { RawResponse } from './http.ts';
export { InvalidResponseError, OAuthResponseError, RefreshError, TransportError } from './errors.ts';
export { calculatePKCECodeChallenge, randomNonce, randomPKCECodeVerifier, randomState } from './pkce.ts';
export { buildAuthorizationUrl, buildAuthorizationUrlWithPAR } from './authorization-url.ts';
export type { AuthorizationParameters, PushedAuthorizationRequestOptions } from './authorization-url.ts';
export { AuthorizationResponseError, skipStateCheck } from './authorization-response.ts';
export { authorizationCodeGrant } from './authorization-code-grant.ts';
export type { AuthorizationCodeGrantChecks, AuthorizationCodeGrantOptions } from './authorization-code-grant.ts';
export { parseWWWAuthenticate } from './www-authenticate.ts';
export type { WWWAuthenticateChallenge } from './www-authenticate.ts';
export { createTokenManager, ReauthenticationRequiredError } from './token-manager.ts';
export type { RetryOptions, TokenManager, TokenManagerEvents, TokenManagerOptions, TokenSetInput } from './token-manager.ts';
export type { StoredTokens, TokenStore } from './token-store.ts';
export { createMemoryStore } from './memory-store.ts';
export { getDPoPHandle, randomDPoPKeyPair } from './dpop.ts';
export type { DPoPHandle, DPoPHandleOptions } from './dpop.ts';
export { createBrowserStore } from './browser-store.ts';
export type { BrowserStoreOptions, BrowserTokenStore } from './browser-store.ts';
