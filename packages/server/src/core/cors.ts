/**
 * CORS (Fetch Standard, "CORS protocol") for browser clients on another origin than the
 * authorization server: a single-page app at `https://app.example` calling the token endpoint
 * at `https://auth.example`. Off unless origins are configured. No credentials mode: every
 * request carries its own credentials (a refresh token, a DPoP proof, client authentication),
 * never a cookie, so `Access-Control-Allow-Credentials` is never sent.
 */
import type { CoreResponse } from './http-types.ts';

/** Which origins may call the endpoints from a browser. */
export interface CorsOptions {
  /** Exact origins (`https://app.example`, no path), or `'*'` for any origin. */
  origins: readonly string[] | '*';
  /** How long a browser may cache a preflight answer, in seconds. @default 600 */
  maxAge?: number;
}

/** Request headers a browser client sends that are not CORS-safelisted. */
const allowedRequestHeaders = 'authorization, content-type, dpop';
/** Response headers a browser client must be able to read (RFC 9449 nonces, RFC 6750 challenges). */
const exposedResponseHeaders = 'dpop-nonce, www-authenticate';

/**
 * Checks configured origins: each must be an origin as browsers send it (scheme, host, port;
 * no path, no trailing slash).
 *
 * @example
 * ```ts
 * validateCors({ origins: ['https://app.example'] })
 * ```
 */
export function validateCors(cors: CorsOptions): void {
  if (cors.origins === '*') return;
  for (const origin of cors.origins) {
    let parsed: URL | undefined;
    try {
      parsed = new URL(origin);
    } catch {
      parsed = undefined;
    }
    if (!parsed || parsed.origin !== origin) {
      throw new TypeError(`CORS origin ${JSON.stringify(origin)} is not an origin (scheme://host[:port], no path)`);
    }
  }
  if (cors.maxAge !== undefined && (!Number.isInteger(cors.maxAge) || cors.maxAge < 0)) {
    throw new TypeError('CORS maxAge must be a whole number of seconds >= 0');
  }
}

/**
 * `Vary: Origin` (added to `existing`) whenever origins are listed: the answer depends on the
 * Origin header, so caches must keep them apart. With '*' it does not.
 */
function vary(cors: CorsOptions, existing?: string): Record<string, string> {
  if (cors.origins === '*') return {};
  return { vary: existing ? `${existing}, Origin` : 'Origin' };
}

/** The `Access-Control-Allow-Origin` value for `origin`, or undefined if it is not allowed. */
function allowOrigin(cors: CorsOptions, origin: string | undefined): string | undefined {
  if (origin === undefined) return undefined;
  if (cors.origins === '*') return '*';
  return cors.origins.includes(origin) ? origin : undefined;
}

/**
 * Adds the CORS headers of an actual (non-preflight) response for an allowed `origin`.
 *
 * @example
 * ```ts
 * const res = withCors(cors, req.headers.origin, await tokenEndpoint(ctx, req))
 * ```
 */
export function withCors(cors: CorsOptions, origin: string | undefined, response: CoreResponse): CoreResponse {
  const allowed = allowOrigin(cors, origin);
  const varies = vary(cors, response.headers.vary);
  if (allowed === undefined) return { ...response, headers: { ...response.headers, ...varies } };
  return {
    ...response,
    headers: {
      ...response.headers,
      ...varies,
      'access-control-allow-origin': allowed,
      'access-control-expose-headers': exposedResponseHeaders,
    },
  };
}

/**
 * The answer to a preflight (`OPTIONS` with `Access-Control-Request-Method`) at an endpoint
 * that takes `methods`: 204, with the CORS headers when `origin` is allowed (without them the
 * browser refuses the actual request).
 *
 * @example
 * ```ts
 * preflight(cors, 'https://app.example', 'POST') // 204, access-control-allow-methods: POST ...
 * ```
 */
export function preflight(cors: CorsOptions, origin: string | undefined, methods: string): CoreResponse {
  const allowed = allowOrigin(cors, origin);
  if (allowed === undefined) return { status: 204, headers: vary(cors), body: '' };
  return {
    status: 204,
    headers: {
      ...vary(cors),
      'access-control-allow-origin': allowed,
      'access-control-allow-methods': methods,
      'access-control-allow-headers': allowedRequestHeaders,
      'access-control-max-age': String(cors.maxAge ?? 600),
    },
    body: '',
  };
}
