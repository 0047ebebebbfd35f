/**
 * Routes a {@link CoreRequest} to its endpoint and turns every failure into a section 5.2
 * error response. Nothing thrown escapes: unexpected errors become `server_error`. With CORS
 * configured, answers preflights and marks the responses for allowed origins.
 */
import type { ServerContext } from './context.ts';
import { preflight, withCors } from './cors.ts';
import { OAuthError, toOAuthError } from './errors.ts';
import { errorResponse, jsonResponse, type CoreRequest, type CoreResponse } from './http-types.ts';
import { authorizationEndpoint } from './endpoints/authorization.ts';
import { devLoginCallback, devLoginEndpoint, devLoginStart } from './endpoints/dev-login.ts';
import { introspectionEndpoint } from './endpoints/introspection.ts';
import { serverMetadata } from './endpoints/metadata.ts';
import { pushedAuthorizationEndpoint } from './endpoints/pushed-authorization.ts';
import { revocationEndpoint } from './endpoints/revocation.ts';
import { tokenEndpoint } from './endpoints/token.ts';
import { userinfoEndpoint } from './endpoints/userinfo.ts';

type Handler = (ctx: ServerContext, req: CoreRequest) => Promise<CoreResponse>;

type Route = {
  handle: Handler;
  /** The `Allow` header: the methods the route answers (`GET` also answers `HEAD`). */
  allow: string;
  /** The same, as a set, computed once (the token endpoint checks it on every request). */
  accepts: ReadonlySet<string>;
  /** Mounted only when the development login is on. */
  devLogin: boolean;
};

function at(methods: 'GET' | 'POST' | 'GET, POST', handle: Handler, devLogin = false): Route {
  const allow = methods === 'POST' ? 'POST' : methods === 'GET' ? 'GET, HEAD' : 'GET, HEAD, POST';
  return { handle, allow, accepts: new Set(allow.split(', ')), devLogin };
}

const metadataRoute = at('GET', async (ctx) => jsonResponse(200, serverMetadata(ctx), { 'cache-control': 'public, max-age=300' }));

const routes: Record<string, Route> = {
  '/token': at('POST', tokenEndpoint),
  '/authorize': at('GET, POST', authorizationEndpoint),
  '/par': at('POST', pushedAuthorizationEndpoint),
  '/userinfo': at('GET, POST', userinfoEndpoint),
  '/revoke': at('POST', revocationEndpoint),
  '/introspect': at('POST', introspectionEndpoint),
  '/jwks': at('GET', async (ctx) =>
    jsonResponse(200, ctx.keys.jwks(), { 'content-type': 'application/jwk-set+json', 'cache-control': 'public, max-age=300' }),
  ),
  '/.well-known/oauth-authorization-server': metadataRoute,
  '/.well-known/openid-configuration': metadataRoute,
  '/dev-login': at('GET, POST', devLoginEndpoint, true),
  '/dev-login/start': at('GET', devLoginStart, true),
  '/dev-login/callback': at('GET, POST', devLoginCallback, true),
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
  let found = Object.hasOwn(routes, req.path) ? routes[req.path] : undefined;
  if (found?.devLogin && !ctx.devLogin) found = undefined;
  const method = req.method.toUpperCase();
  const cors = ctx.cors;
  // Without CORS, the endpoint's own promise: no extra step on the hot path.
  if (!cors) return answer(ctx, req, found, method);
  // A browser's preflight is answered before anything else.
  if (found && method === 'OPTIONS') {
    return Promise.resolve(preflight(cors, req.headers.origin, found.allow));
  }
  return answer(ctx, req, found, method).then((response) => withCors(cors, req.headers.origin, response));
}

async function answer(ctx: ServerContext, req: CoreRequest, found: Route | undefined, method: string): Promise<CoreResponse> {
  if (!found) return jsonResponse(404, { error: 'not_found', error_description: 'No such endpoint.' });
  if (!found.accepts.has(method)) {
    return errorResponse(new OAuthError('invalid_request', `Use ${found.allow} at this endpoint.`, { status: 405, headers: { allow: found.allow } }));
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
