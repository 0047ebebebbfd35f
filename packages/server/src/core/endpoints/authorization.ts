/**
 * The authorization endpoint (RFC 6749 section 3.1, section 4.1 under OAuth 2.1 and RFC 9700):
 * GET (or a form POST, OIDC Core section 3.1.2.1), `response_type=code` only, PKCE with S256
 * for every client, exact redirection URI matching, pushed authorization requests (RFC 9126).
 * A valid request is handed to the application's sign-in page with a sealed interaction
 * reference (`interactions/interactions.ts`); a refused one is shown to the user when the client
 * or the redirection URI is in doubt, and otherwise sent back to the client with `state` and
 * `iss` (RFC 6749 section 4.1.2.1, RFC 9207).
 */
import type { ServerContext } from '../context.ts';
import { sha256 } from '../crypto.ts';
import { OAuthError, toOAuthError } from '../errors.ts';
import { assertFormContentType } from '../form.ts';
import type { CoreRequest, CoreResponse } from '../http-types.ts';
import { maxParameterLength, resolveClientAndRedirect, validateAuthorizationParams } from '../interactions/authorization-request.ts';
import { errorPage, errorRedirect, seeOther } from '../interactions/authorization-response.ts';
import { interactionTtl, sealInteraction } from '../interactions/interaction-ref.ts';
import { interactionRedirect } from '../interactions/interactions.ts';
import type { AuthorizationRequest, ClientRecord } from '../types.ts';

/** RFC 9126 section 2.2: the URN prefix of a pushed request's `request_uri`. */
export const requestUriPrefix = 'urn:ietf:params:oauth:request_uri:';

/** The longest query string (or form) accepted, in characters; longer ones get 414 (a form: 413). */
export const maxAuthorizationRequestBytes = 8192;

/**
 * Handles GET and POST at the authorization endpoint.
 *
 * @example
 * ```ts
 * const res = await authorizationEndpoint(ctx, { method: 'GET', path: '/authorize', url: issuer + '/authorize?response_type=code&...', headers: {}, body: '' })
 * res.headers.location // the application's sign-in page, or the client's redirect_uri with an error
 * ```
 */
export async function authorizationEndpoint(ctx: ServerContext, req: CoreRequest): Promise<CoreResponse> {
  try {
    return await authorize(ctx, req);
  } catch (error) {
    // A browser is on the other end: a page, also for 503 temporarily_unavailable (with Retry-After) and 500.
    return refused(ctx, toOAuthError(error));
  }
}

async function authorize(ctx: ServerContext, req: CoreRequest): Promise<CoreResponse> {
  let raw: string;
  if (req.method.toUpperCase() === 'POST') {
    try {
      assertFormContentType(req.headers['content-type']);
    } catch (error) {
      return refused(ctx, error as OAuthError);
    }
    raw = req.body;
  } else {
    const q = req.url.indexOf('?');
    raw = q === -1 ? '' : req.url.slice(q + 1);
  }
  if (raw.length > maxAuthorizationRequestBytes) {
    // 414 URI Too Long for a query, 413 Content Too Large for a form.
    const status = req.method.toUpperCase() === 'POST' ? 413 : 414;
    return refused(ctx, new OAuthError('invalid_request', 'The authorization request is too large.', { status }));
  }
  const params = new URLSearchParams(raw);

  let client: ClientRecord;
  let request: AuthorizationRequest;
  const requestUri = params.get('request_uri');
  if (requestUri !== null) {
    try {
      ({ client, request } = await pushedRequest(ctx, params, requestUri));
    } catch (error) {
      if (error instanceof OAuthError) return refused(ctx, error);
      throw error;
    }
  } else {
    let redirectUri: string;
    try {
      ({ client, redirectUri } = await resolveClientAndRedirect(ctx.store, params));
    } catch (error) {
      if (error instanceof OAuthError) return refused(ctx, error);
      throw error;
    }
    // From here on, errors go to the client's redirection URI.
    const states = params.getAll('state');
    const state = states.length === 1 && states[0] !== '' && states[0].length <= maxParameterLength ? states[0] : undefined;
    try {
      // RFC 9126 section 6: a client registered so may only use pushed authorization requests.
      if (client.requirePushedAuthorizationRequests) {
        throw new OAuthError('invalid_request', 'This client must use pushed authorization requests (RFC 9126).');
      }
      request = validateAuthorizationParams(client, redirectUri, params);
    } catch (error) {
      if (!(error instanceof OAuthError)) throw error;
      return seeOther(errorRedirect(ctx, redirectUri, state, error, client.clientId));
    }
  }
  return startInteraction(ctx, client, request);
}

/** Hands the request to the application's sign-in page. */
function startInteraction(ctx: ServerContext, client: ClientRecord, request: AuthorizationRequest): CoreResponse {
  if (ctx.interactionUrl === undefined) {
    const error = new OAuthError('server_error', 'The authorization server has no sign-in page configured.', { detail: 'no interactionUrl configured' });
    return seeOther(errorRedirect(ctx, request.redirectUri, request.state, error, client.clientId));
  }
  const now = ctx.now();
  const ref = sealInteraction(ctx.interactionKey, { step: 'login', request, createdAt: now, expiresAt: now + interactionTtl });
  return seeOther(interactionRedirect(ctx, ref));
}

/**
 * RFC 9126 section 4: a request by reference to a pushed request: `client_id` must be the one
 * that pushed it; the stored request is used alone (other parameters are ignored), once.
 */
async function pushedRequest(ctx: ServerContext, params: URLSearchParams, requestUri: string): Promise<{ client: ClientRecord; request: AuthorizationRequest }> {
  const invalidUri = () => new OAuthError('invalid_request_uri', 'The request_uri is invalid, used or expired.');
  if (params.getAll('request_uri').length !== 1 || !requestUri.startsWith(requestUriPrefix)) throw invalidUri();
  const clientId = params.get('client_id');
  // RFC 9126 section 4: the client_id parameter is still REQUIRED.
  if (!clientId || params.getAll('client_id').length !== 1) throw new OAuthError('invalid_request', 'The request has no client_id, or more than one.');
  const pushed = await ctx.store.takePushedAuthorizationRequest(sha256(requestUri), ctx.now());
  if (!pushed) throw invalidUri();
  if (pushed.request.clientId !== clientId) {
    throw new OAuthError('invalid_request', 'The request_uri was pushed by another client.', { detail: `pushed by ${pushed.request.clientId}, used by ${clientId}` });
  }
  const client = await ctx.store.getClient(clientId);
  if (!client) throw new OAuthError('invalid_client', 'The client is not registered.');
  return { client, request: pushed.request };
}

/** A request that cannot be answered at a redirection URI: shown to the user. */
function refused(ctx: ServerContext, error: OAuthError): CoreResponse {
  ctx.emit({ type: 'authorization.failed', at: ctx.now(), error: error.error, detail: error.detail ?? error.description });
  return errorPage(error);
}
