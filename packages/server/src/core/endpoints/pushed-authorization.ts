/**
 * The pushed authorization request endpoint (RFC 9126): a client posts its authorization
 * request, authenticated as at the token endpoint, and gets a one-time `request_uri` to send the
 * browser with instead. The request is validated now, exactly as the authorization endpoint
 * would, and errors are JSON (RFC 9126 section 2.3). A DPoP proof here binds the code
 * (RFC 9449 section 10.1), like `dpop_jkt`.
 */
import type { ServerContext } from '../context.ts';
import { authenticateRequest } from '../auth/request-auth.ts';
import { verifyDpopProof } from '../auth/dpop.ts';
import { randomHandle, sha256 } from '../crypto.ts';
import { OAuthError } from '../errors.ts';
import { parseForm } from '../form.ts';
import { jsonResponse, type CoreRequest, type CoreResponse } from '../http-types.ts';
import { validateAuthorizationParams } from '../interactions/authorization-request.ts';
import { redirectUriMatches } from '../interactions/redirect-uri.ts';
import { requestUriPrefix } from './authorization.ts';

/** How long a `request_uri` may be used, in seconds (RFC 9126 section 2.2: short). */
export const pushedRequestTtl = 60;

/**
 * Handles a POST to the PAR endpoint: 201 with `request_uri` and `expires_in`.
 *
 * @example
 * ```ts
 * const res = await pushedAuthorizationEndpoint(ctx, request) // 201 {"request_uri":"urn:ietf:params:oauth:request_uri:...","expires_in":60}
 * ```
 */
export async function pushedAuthorizationEndpoint(ctx: ServerContext, req: CoreRequest): Promise<CoreResponse> {
  const params = parseForm(req);
  // RFC 9126 section 2.1: request_uri MUST NOT be provided here.
  if (params.has('request_uri')) throw new OAuthError('invalid_request', 'request_uri cannot be pushed.');
  const url = ctx.endpoints.pushedAuthorizationRequest;
  const proof = await verifyDpopProof({ header: req.headers.dpop, method: req.method, url, now: ctx.now() }, { settings: ctx.dpop, store: ctx.store });
  const { client } = await authenticateRequest(ctx, req, params, url);
  const redirectUri = params.get('redirect_uri');
  if (!redirectUri || params.getAll('redirect_uri').length !== 1) throw new OAuthError('invalid_request', 'The request has no redirect_uri, or more than one.');
  if (!redirectUriMatches(client.redirectUris ?? [], redirectUri)) throw new OAuthError('invalid_request', 'The redirect_uri is not registered for this client.');
  const request = validateAuthorizationParams(client, redirectUri, params);
  if (proof) {
    // RFC 9449 section 10.1: with both a proof and dpop_jkt, they must name the same key.
    if (request.dpopJkt !== undefined && request.dpopJkt !== proof.jkt) throw new OAuthError('invalid_request', 'dpop_jkt does not match the DPoP proof key.');
    request.dpopJkt = proof.jkt;
  }
  const now = ctx.now();
  const requestUri = requestUriPrefix + randomHandle('');
  // Stored by hash: a copy of the database cannot start a sign-in with it.
  await ctx.store.savePushedAuthorizationRequest({ key: sha256(requestUri), request, expiresAt: now + pushedRequestTtl });
  return jsonResponse(201, { request_uri: requestUri, expires_in: pushedRequestTtl });
}
