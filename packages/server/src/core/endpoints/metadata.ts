/**
 * Authorization server metadata (RFC 8414) and OpenID Provider metadata (OIDC Discovery 1.0
 * section 3), complete for what this server supports.
 */
import type { ServerContext } from '../context.ts';
import { promptValues } from '../interactions/authorization-request.ts';
import { grantTypes, tokenEndpointAuthMethods } from '../types.ts';
import { scopeClaims } from './userinfo.ts';

/** Algorithms accepted for client assertions (RFC 7523). */
export const assertionAlgorithms = ['HS256', 'HS384', 'HS512', 'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519'];

/**
 * The metadata document, in wire names.
 *
 * @example
 * ```ts
 * const doc = serverMetadata(ctx) // { issuer, token_endpoint, jwks_uri, ... }
 * ```
 */
export function serverMetadata(ctx: ServerContext): Record<string, unknown> {
  const alg = ctx.keys.current.alg;
  return {
    issuer: ctx.issuer,
    authorization_endpoint: ctx.endpoints.authorization,
    token_endpoint: ctx.endpoints.token,
    jwks_uri: ctx.endpoints.jwks,
    userinfo_endpoint: ctx.endpoints.userinfo,
    revocation_endpoint: ctx.endpoints.revocation,
    introspection_endpoint: ctx.endpoints.introspection,
    // RFC 9126 section 5: PAR is offered to every client; some are registered to require it.
    pushed_authorization_request_endpoint: ctx.endpoints.pushedAuthorizationRequest,
    require_pushed_authorization_requests: false,
    grant_types_supported: grantTypes,
    response_types_supported: ['code'],
    response_modes_supported: ['query'],
    // RFC 7636 and OAuth 2.1: PKCE is required, and only S256.
    code_challenge_methods_supported: ['S256'],
    // RFC 9207 section 3: iss is in every authorization response.
    authorization_response_iss_parameter_supported: true,
    prompt_values_supported: promptValues,
    scopes_supported: ['openid', 'offline_access', ...Object.keys(scopeClaims)],
    subject_types_supported: ['public'],
    claims_supported: ['iss', 'sub', 'aud', 'azp', 'exp', 'iat', 'auth_time', 'nonce', 'at_hash', 'acr', 'amr', ...Object.values(scopeClaims).flat()],
    claims_parameter_supported: false,
    request_parameter_supported: false,
    // Only the request_uri values of pushed requests (OIDC Discovery's default would be true).
    request_uri_parameter_supported: false,
    id_token_signing_alg_values_supported: [alg],
    token_endpoint_auth_methods_supported: tokenEndpointAuthMethods,
    token_endpoint_auth_signing_alg_values_supported: assertionAlgorithms,
    revocation_endpoint_auth_methods_supported: tokenEndpointAuthMethods,
    revocation_endpoint_auth_signing_alg_values_supported: assertionAlgorithms,
    // RFC 7662 section 2.1: introspection needs authorization, which a public client (none) cannot give.
    introspection_endpoint_auth_methods_supported: tokenEndpointAuthMethods.filter((m) => m !== 'none'),
    introspection_endpoint_auth_signing_alg_values_supported: assertionAlgorithms,
    access_token_signing_alg_values_supported: [alg],
    // RFC 9449 section 5.1: the JWS algorithms accepted in DPoP proofs.
    dpop_signing_alg_values_supported: ctx.dpop.algorithms,
    // draft-ietf-oauth-refresh-token-expiration section 6: token responses and refresh token
    // introspection carry authorization_expires_in and refresh_token_timeout.
    refresh_token_expiration_types_supported: ['authorization', 'token_timeout'],
  };
}
