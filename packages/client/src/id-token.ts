import { createRemoteJWKSet, customFetch as joseFetch, decodeJwt, errors, jwtVerify, type JWTPayload } from 'jose';
import type { Configuration, CustomFetch, endpoint, internal } from './configuration.ts';
import type { InvalidResponseError } from './errors.ts';
import type { IDTokenClaims } from './refresh-request.ts';

/**
 * What this lazily loaded module needs from the rest of the package, handed in by its caller
 * instead of imported: the bare refresh path then bundles as one chunk (one gzip stream), not as
 * an entry plus a chunk shared with this one.
 */
export interface IdTokenDeps {
  /** The configuration's custom fetch, if any. */
  fetcher: (config: Configuration) => CustomFetch | undefined;
  endpoint: typeof endpoint;
  internal: typeof internal;
  InvalidResponseError: typeof InvalidResponseError;
}

/** Clock tolerance for `exp` and `iat`, in seconds. */
const CLOCK_TOLERANCE = 30;
/** How old (seconds) a freshly issued id_token's `iat` may be. */
const MAX_AGE = 300;

const jwksCache = /* @__PURE__ */ new WeakMap<Configuration, ReturnType<typeof createRemoteJWKSet>>();

/**
 * Validates an id_token from a token response: signature against the server's JWKS (`jwks_uri`,
 * fetched once and cached per Configuration), `iss`, `aud`, `azp`, `exp`, a fresh `iat`, and, given
 * the original id_token, OIDC Core section 12.2 (same `iss`, `sub`, `aud`, `azp`, `auth_time`,
 * `nonce`). Failures are InvalidResponseError carrying `body`, so a rotated refresh token is kept.
 *
 * @example
 * const claims = await validateIdToken(config, tokens.id_token, originalIdToken)
 */
export async function validateIdToken(
  config: Configuration,
  idToken: string,
  original: string | IDTokenClaims | undefined,
  body: Record<string, unknown> | undefined,
  { fetcher: fetcherOf, endpoint, internal, InvalidResponseError }: IdTokenDeps,
): Promise<IDTokenClaims> {
  const fail = (message: string, cause?: unknown, retryable = false) =>
    new InvalidResponseError(`id_token ${message}`, 200, body, retryable, cause);
  const { server, client } = internal(config);
  let jwks = jwksCache.get(config);
  if (!jwks) {
    let url: URL;
    try {
      url = endpoint(config, 'jwks_uri');
    } catch (cause) {
      throw fail(`cannot be validated: ${(cause as Error).message}`, cause);
    }
    const fetcher = fetcherOf(config);
    jwks = createRemoteJWKSet(url, {
      timeoutDuration: config.timeout * 1000,
      ...(fetcher && {
        [joseFetch]: (href: string, init: { headers: Headers; method: string; signal: AbortSignal }) =>
          fetcher(href, { ...init, headers: Object.fromEntries(init.headers), body: undefined, redirect: 'manual' }),
      }),
    });
    jwksCache.set(config, jwks);
  }
  const algorithms = client.id_token_signed_response_alg
    ? [client.id_token_signed_response_alg]
    : (server.id_token_signing_alg_values_supported?.filter((alg) => alg !== 'none' && !alg.startsWith('HS')) ?? ['RS256']);
  let claims: JWTPayload;
  try {
    ({ payload: claims } = await jwtVerify(idToken, jwks, {
      // OIDC Core section 3.1.3.7: iss MUST match, aud MUST contain the client_id, exp and iat are REQUIRED.
      issuer: server.issuer,
      audience: client.client_id,
      algorithms,
      requiredClaims: ['sub', 'exp', 'iat'],
      clockTolerance: CLOCK_TOLERANCE,
      maxTokenAge: MAX_AGE,
    }));
  } catch (cause) {
    const unreachable = !(cause instanceof errors.JOSEError) || cause instanceof errors.JWKSTimeout;
    throw fail(unreachable ? `cannot be validated: the JWKS at ${server.jwks_uri} is unreachable` : `is invalid: ${(cause as Error).message}`, cause, unreachable);
  }
  const audiences = ([] as string[]).concat(claims.aud!);
  // OIDC Core section 3.1.3.7: several audiences need an azp, and an azp must be this client.
  if ((audiences.length > 1 && claims.azp === undefined) || (claims.azp !== undefined && claims.azp !== client.client_id)) {
    throw fail('is invalid: "azp" is missing or not this client');
  }
  if (original) {
    let first: JWTPayload;
    try {
      first = typeof original === 'string' ? decodeJwt(original) : original;
    } catch (cause) {
      throw new TypeError('"idToken" is not a JWT', { cause });
    }
    const same = (name: string, a: unknown, b: unknown) => {
      if (a !== b) throw fail(`is invalid: "${name}" differs from the original id_token's (OIDC Core section 12.2)`);
    };
    // OIDC Core section 12.2: iss and sub MUST be the same, aud the same, azp and auth_time (and nonce) unchanged when present.
    same('iss', claims.iss, first.iss);
    same('sub', claims.sub, first.sub);
    same('aud', JSON.stringify(audiences.sort()), JSON.stringify(([] as unknown[]).concat(first.aud).sort()));
    if (claims.azp !== undefined) same('azp', claims.azp, first.azp);
    if (claims.auth_time !== undefined) same('auth_time', claims.auth_time, first.auth_time);
    if (claims.nonce !== undefined) same('nonce', claims.nonce, first.nonce);
  }
  return claims as IDTokenClaims;
}
