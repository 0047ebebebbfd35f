/**
 * Authorization server metadata (RFC 8414) and OpenID Provider metadata (OIDC Discovery 1.0
 * section 3), complete for what this server supports.
 */
import type { ServerContext } from '../context.ts';
import { tokenEndpointAuthMethods } from '../types.ts';

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
    token_endpoint: ctx.endpoints.token,
    jwks_uri: ctx.endpoints.jwks,
    revocation_endpoint: ctx.endpoints.revocation,
    introspection_endpoint: ctx.endpoints.introspection,
    grant_types_supported: ['refresh_token'],
    // No authorization endpoint: first grants are issued by the embedding application or the CLI.
    response_types_supported: [],
    scopes_supported: ['openid', 'offline_access'],
    subject_types_supported: ['public'],
    claims_supported: ['iss', 'sub', 'aud', 'azp', 'exp', 'iat', 'auth_time', 'acr', 'amr'],
    id_token_signing_alg_values_supported: [alg],
    token_endpoint_auth_methods_supported: tokenEndpointAuthMethods,
    token_endpoint_auth_signing_alg_values_supported: assertionAlgorithms,
    revocation_endpoint_auth_methods_supported: tokenEndpointAuthMethods,
    revocation_endpoint_auth_signing_alg_values_supported: assertionAlgorithms,
    introspection_endpoint_auth_methods_supported: tokenEndpointAuthMethods,
    introspection_endpoint_auth_signing_alg_values_supported: assertionAlgorithms,
    access_token_signing_alg_values_supported: [alg],
    // RFC 9449 section 5.1: the JWS algorithms accepted in DPoP proofs.
    dpop_signing_alg_values_supported: ctx.dpop.algorithms,
    // draft-ietf-oauth-refresh-token-expiration section 6: token responses and refresh token
    // introspection carry authorization_expires_in and refresh_token_timeout.
    refresh_token_expiration_types_supported: ['authorization', 'token_timeout'],
  };
}
