/**
 * The token endpoint (RFC 6749 section 3.2) as a short list of named steps: parse the form,
 * reject duplicate parameters, check the DPoP proof, authenticate the client, dispatch by
 * `grant_type`.
 *
 * The DPoP proof (RFC 9449) is checked before client authentication: a client told to use a
 * nonce (`use_dpop_nonce`) retries with the same request, and its client assertion's `jti` must
 * not have been consumed by the refused attempt.
 */
import type { ServerContext } from '../context.ts';
import { authenticateRequest } from '../auth/request-auth.ts';
import { verifyDpopProof } from '../auth/dpop.ts';
import { OAuthError } from '../errors.ts';
import { parseForm, requireParam } from '../form.ts';
import { jsonResponse, type CoreRequest, type CoreResponse } from '../http-types.ts';
import * as authorizationCode from '../grants/authorization-code.ts';
import * as jwtBearer from '../grants/jwt-bearer.ts';
import * as password from '../grants/password.ts';
import * as refreshToken from '../grants/refresh-token.ts';
import type { TokenResponse } from '../tokens/token-response.ts';
import { allowedGrantTypes, type ClientRecord, type GrantType } from '../types.ts';

/** What a grant module receives. */
export interface GrantRequest {
  client: ClientRecord;
  params: URLSearchParams;
  request: CoreRequest;
  /** RFC 9449: thumbprint of the key of a valid DPoP proof sent with the request. */
  dpopJkt?: string;
}

/** A grant type handler: one module per grant type. */
export type GrantHandler = (ctx: ServerContext, req: GrantRequest) => Promise<TokenResponse>;

/** The grant types this endpoint dispatches to, one module each. */
export const grantHandlers: Readonly<Record<GrantType, GrantHandler>> = {
  [refreshToken.grantType]: (ctx, req) =>
    refreshToken.refreshTokenGrant(ctx, { client: req.client, params: req.params, dpopJkt: req.dpopJkt }),
  [authorizationCode.grantType]: (ctx, req) =>
    authorizationCode.authorizationCodeGrant(ctx, { client: req.client, params: req.params, dpopJkt: req.dpopJkt }),
  [jwtBearer.grantType]: (ctx, req) => jwtBearer.jwtBearerGrant(ctx, { client: req.client, params: req.params, dpopJkt: req.dpopJkt }),
  [password.grantType]: (ctx, req) => password.passwordGrant(ctx, { client: req.client, params: req.params, dpopJkt: req.dpopJkt }),
};

/**
 * Handles a POST to the token endpoint; throws {@link OAuthError} for every refusal.
 *
 * @example
 * ```ts
 * const response = await tokenEndpoint(ctx, { method: 'POST', path: '/token', url, headers, body })
 * ```
 */
export async function tokenEndpoint(ctx: ServerContext, request: CoreRequest): Promise<CoreResponse> {
  const params = parseForm(request);
  const grantType = requireParam(params, 'grant_type');
  const proof = await verifyDpopProof(
    { header: request.headers.dpop, method: request.method, url: ctx.endpoints.token, now: ctx.now() },
    { settings: ctx.dpop, store: ctx.store },
  );
  const { client } = await authenticateRequest(ctx, request, params, ctx.endpoints.token);
  // RFC 6749 section 5.2: a grant type the server does not support is unsupported_grant_type.
  const handler = Object.hasOwn(grantHandlers, grantType) ? grantHandlers[grantType as GrantType] : undefined;
  if (!handler) {
    throw new OAuthError('unsupported_grant_type', 'The grant type is not supported.', { detail: grantType });
  }
  // RFC 6749 section 5.2: a client not authorized to use this grant type is unauthorized_client.
  if (!allowedGrantTypes(client).includes(grantType as GrantType)) {
    throw new OAuthError('unauthorized_client', 'The client is not allowed to use this grant type.', { detail: `${client.clientId}: ${grantType}` });
  }
  const body = await handler(ctx, { client, params, request, dpopJkt: proof?.jkt });
  // RFC 9449 section 8.2: a fresh nonce may ride on any response, so the next proof has it.
  const nonces = ctx.dpop.nonces;
  return jsonResponse(200, body, nonces && proof ? { 'dpop-nonce': nonces.current(ctx.now()) } : {});
}
