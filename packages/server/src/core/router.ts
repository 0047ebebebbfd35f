/**
 * Routes a {@link CoreRequest} to its endpoint and turns every failure into a section 5.2
 * error response. Nothing thrown escapes: unexpected errors become `server_error`. With CORS
 * configured, answers preflights and marks the responses for allowed origins.
 */
import type { ServerContext } from './context.ts';
import { preflight, withCors } from './cors.ts';
import { OAuthError, toOAuthError } from './errors.ts';
import { errorResponse, jsonResponse, type CoreRequest, type CoreResponse } from './http-types.ts';
import { introspectionEndpoint } from './endpoints/introspection.ts';
import { serverMetadata } from './endpoints/metadata.ts';
import { revocationEndpoint } from './endpoints/revocation.ts';
import { tokenEndpoint } from './endpoints/token.ts';

type Route = { method: 'GET' | 'POST'; handle: (ctx: ServerContext, req: CoreRequest) => Promise<CoreResponse> };

const metadataRoute: Route = { method: 'GET', handle: async (ctx) => jsonResponse(200, serverMetadata(ctx), { 'cache-control': 'public, max-age=300' }) };

const routes: Record<string, Route> = {
  '/token': { method: 'POST', handle: tokenEndpoint },
  '/revoke': { method: 'POST', handle: revocationEndpoint },
  '/introspect': { method: 'POST', handle: introspectionEndpoint },
  '/jwks': {
    method: 'GET',
    handle: async (ctx) => jsonResponse(200, ctx.keys.jwks(), { 'content-type': 'application/jwk-set+json', 'cache-control': 'public, max-age=300' }),
  },
  '/.well-known/oauth-authorization-server': metadataRoute,
  '/.well-known/openid-configuration': metadataRoute,
};

/**
 * Answers one request. `req.path` is relative to the issuer's path.
 *
 * @example
 * ```ts
 * const res = await route(ctx, { method: 'GET', path: '/jwks', url, headers: {}, body: '' })
 * ```
 */
export function route(ctx: ServerContext, req: CoreRequest): Promise<CoreResponse> {
  const found = Object.hasOwn(routes, req.path) ? routes[req.path] : undefined;
  const method = req.method.toUpperCase();
  const cors = ctx.cors;
  // Without CORS, the endpoint's own promise: no extra step on the hot path.
  if (!cors) return answer(ctx, req, found, method);
  // A browser's preflight is answered before anything else.
  if (found && method === 'OPTIONS') {
    return Promise.resolve(preflight(cors, req.headers.origin, found.method === 'GET' ? 'GET, HEAD' : 'POST'));
  }
  return answer(ctx, req, found, method).then((response) => withCors(cors, req.headers.origin, response));
}

async function answer(ctx: ServerContext, req: CoreRequest, found: Route | undefined, method: string): Promise<CoreResponse> {
  if (!found) return jsonResponse(404, { error: 'not_found', error_description: 'No such endpoint.' });
  const allowed = found.method === 'GET' ? 'GET, HEAD' : 'POST';
  if (method !== found.method && !(found.method === 'GET' && method === 'HEAD')) {
    return errorResponse(new OAuthError('invalid_request', `Use ${found.method} at this endpoint.`, { status: 405, headers: { allow: allowed } }));
  }
  try {
    return await found.handle(ctx, req);
  } catch (err) {
    const oauthError = toOAuthError(err);
    if (oauthError.reported) return errorResponse(oauthError);
    ctx.emit({
      type: oauthError.error === 'invalid_client' ? 'client_auth.failed' : 'request.failed',
      at: ctx.now(),
      error: oauthError.error,
      detail: oauthError.detail ?? oauthError.description,
      endpoint: req.path,
      ...oauthError.event,
    });
    return errorResponse(oauthError);
  }
}
